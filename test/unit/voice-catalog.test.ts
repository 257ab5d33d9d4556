/** The voice catalog: qualified names, languages never empty, routing rules, and a slow engine's time limit. */
import { describe, expect, it } from 'vitest';
import type { EngineEntry } from '../../src/tts/dispatcher.js';
import type { Engine, Voice } from '../../src/tts/engine.js';
import { createVoiceCatalog, splitQualified } from '../../src/tts/voice-catalog.js';

function entry(name: string, voices: () => Promise<Voice[]>, extra: Partial<EngineEntry> = {}): EngineEntry {
  const engine: Engine = {
    name,
    type: 'test',
    synthesize: async function* () {},
    voices,
    probe: async () => ({ healthy: true, checkedAt: 0 }),
  };
  return { engine, maxParallel: 1, timeoutMs: 1000, gainDb: 0, ...extra };
}

const never = (): Promise<Voice[]> => new Promise(() => {});

describe('voice catalog', () => {
  const entries = [
    entry('espeak', async () => [
      { name: 'en-us', languages: ['en-us'], description: 'English_(America)' },
      { name: 'de', languages: ['de'] },
    ]),
    entry('piper', async () => [{ name: 'en_US-joe-medium', languages: ['en_US'], speakers: ['a', 'b'] }]),
    entry('kokoro', async () => [{ name: 'af_heart', languages: [] }], { language: 'en-GB' }),
    entry('xtts', async () => []),
  ];
  const catalog = createVoiceCatalog({ entries, timeoutMs: 100 });
  const signal = new AbortController().signal;

  it('names every voice <engine>:<voice> with a label, languages and speakers', async () => {
    const list = await catalog.list(signal);
    expect(list.map((v) => v.id)).toEqual([
      'espeak:en-us',
      'espeak:de',
      'piper:en_US-joe-medium',
      'kokoro:af_heart',
      'xtts:default',
    ]);
    expect(list[0]?.description).toBe('espeak: en-us — English (America)');
    expect(list[2]?.speakers).toEqual(['a', 'b']);
    // No languages from the engine: its configured language, else en; an engine with no list: one voice.
    expect(list[3]?.languages).toEqual(['en-GB']);
    expect(list[4]).toMatchObject({ voice: undefined, languages: ['en'], description: 'xtts: default' });
  });

  it('routes qualified names, bare names, engine names and unknown names', async () => {
    expect(await catalog.resolve('piper:en_US-joe-medium', signal)).toEqual({
      engine: 'piper',
      voice: 'en_US-joe-medium',
    });
    expect(await catalog.resolve('xtts:default', signal)).toEqual({ engine: 'xtts' });
    expect(await catalog.resolve('piper:gone-voice', signal)).toEqual({ engine: 'piper' });
    expect(await catalog.resolve('de', signal)).toEqual({ engine: 'espeak', voice: 'de' });
    expect(await catalog.resolve('kokoro', signal)).toEqual({ engine: 'kokoro' });
    expect(await catalog.resolve('alloy', signal)).toEqual({});
    expect(await catalog.resolve(undefined, signal)).toEqual({});
    expect(splitQualified('nope:x', ['espeak'])).toBeUndefined();
    expect(splitQualified('espeak:a:b', ['espeak'])).toEqual({ engine: 'espeak', voice: 'a:b' });
  });

  it('answers within its time limit when an engine hangs, with the last known list', async () => {
    let hang = false;
    const flaky = createVoiceCatalog({
      entries: [entry('slow', () => (hang ? never() : Promise.resolve([{ name: 'v1', languages: ['fr'] }])))],
      timeoutMs: 100,
    });
    expect((await flaky.list(signal)).map((v) => v.id)).toEqual(['slow:v1']);
    hang = true;
    const t0 = Date.now();
    expect((await flaky.list(signal)).map((v) => v.id)).toEqual(['slow:v1']);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
