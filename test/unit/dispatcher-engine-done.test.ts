/**
 * The dispatcher frees an engine's slot when the work says the engine is done (`engineDone`: its last audio is
 * in), not when the work ends: with max_parallel 1 the next request reaches the engine while the first one
 * still encodes and commits. The limit still holds while the engine speaks, and a half-open trial keeps its
 * slot until its outcome is known.
 */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/errors.js';
import { silentLog } from '../../src/shared/log.js';
import { createDispatcher, type DispatchWork } from '../../src/tts/dispatcher.js';
import type { Engine } from '../../src/tts/engine.js';

/** An engine client the dispatcher only schedules (the work below stands in for synthesis). */
const engine: Engine = {
  name: 'piper',
  type: 'piper',
  async *synthesize() {},
  voices: async () => [],
  probe: async () => ({ healthy: true, checkedAt: Date.now() }),
};

function dispatcher(breakerResetMs = 60_000) {
  return createDispatcher({
    entries: [{ engine, maxParallel: 1, timeoutMs: 10_000, gainDb: 0, breakerFailures: 1, breakerResetMs }],
    log: silentLog(),
  });
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const never = new AbortController().signal;
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * A work that "speaks" until `speaking` opens, calls engineDone, then "encodes" until `encoding` opens;
 * `events` records its steps under `name`.
 */
function work(name: string, events: string[], speaking: Promise<void>, encoding: Promise<void>) {
  const w: DispatchWork<string> = async (_entry, _signal, _isFallback, _instance, engineDone) => {
    events.push(`${name} engine`);
    await speaking;
    engineDone();
    events.push(`${name} encode`);
    await encoding;
    events.push(`${name} end`);
    return name;
  };
  return w;
}

describe('dispatcher: the engine slot is freed at engineDone', () => {
  it('starts the next request on the engine while the first one still encodes (max_parallel 1)', async () => {
    const d = dispatcher();
    const events: string[] = [];
    const [speakA, encodeA, speakB] = [gate(), gate(), gate()];
    const a = d.run(undefined, never, work('a', events, speakA.opened, encodeA.opened));
    const b = d.run(undefined, never, work('b', events, speakB.opened, Promise.resolve()));
    await turn();
    // While a speaks, b waits: the limit holds.
    expect(events).toEqual(['a engine']);
    expect(d.load('piper')).toEqual({ active: 1, queued: 1 });
    speakA.open();
    await turn();
    // a's engine part is over: b speaks while a still encodes.
    expect(events).toEqual(['a engine', 'a encode', 'b engine']);
    expect(d.load('piper')).toEqual({ active: 1, queued: 0 });
    speakB.open();
    encodeA.open();
    expect((await a).value).toBe('a');
    expect((await b).value).toBe('b');
    expect(d.load('piper')).toEqual({ active: 0, queued: 0 });
  });

  it('keeps a half-open trial’s slot until its work ends', async () => {
    const d = dispatcher(50);
    const fault: DispatchWork<string> = async () => {
      throw new AppError('ENGINE_UNAVAILABLE', 'connection refused');
    };
    await expect(d.run(undefined, never, fault)).rejects.toThrow('connection refused');
    await new Promise((resolve) => setTimeout(resolve, 80)); // the breaker is due for its trial
    const events: string[] = [];
    const encodeA = gate();
    const a = d.run(undefined, never, work('a', events, Promise.resolve(), encodeA.opened));
    await turn();
    expect(events).toEqual(['a engine', 'a encode']);
    // The trial's engine part is over, but its slot is kept until the breaker knows the outcome.
    expect(d.load('piper')).toEqual({ active: 1, queued: 0 });
    const b = d.run(undefined, never, work('b', events, Promise.resolve(), Promise.resolve()));
    await expect(b).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' }); // refused, never started
    encodeA.open();
    expect((await a).value).toBe('a');
    const c = await d.run(undefined, never, work('c', events, Promise.resolve(), Promise.resolve()));
    expect(c.value).toBe('c'); // the trial closed the breaker
    expect(events).toEqual(['a engine', 'a encode', 'a end', 'c engine', 'c encode', 'c end']);
  });
});
