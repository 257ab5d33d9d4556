import { describe, expect, it } from 'vitest';
import { TargetQueue } from '../../src/playback/queue.js';

/** A job that records when it runs and finishes when `release` is called or its signal aborts. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => {
    release = r;
  });
  const job = async (signal: AbortSignal): Promise<string> => {
    log.push(`start ${name}`);
    await new Promise<void>((resolve, reject) => {
      done.then(resolve, reject);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    log.push(`end ${name}`);
    return name;
  };
  return { job, release };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TargetQueue', () => {
  it('runs one job at a time in arrival order', async () => {
    const q = new TargetQueue('t');
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const ra = q.run('normal', new AbortController().signal, a.job);
    const rb = q.run('normal', new AbortController().signal, b.job);
    await tick();
    expect(log).toEqual(['start a']);
    expect(q.depth).toBe(2);
    a.release();
    b.release();
    expect(await Promise.all([ra, rb])).toEqual(['a', 'b']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(q.depth).toBe(0);
  });

  it('lets high priority interrupt a normal job and go ahead of waiting ones', async () => {
    const q = new TargetQueue('kitchen');
    const log: string[] = [];
    const [a, b, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'c')];
    const ra = q.run('normal', new AbortController().signal, a.job);
    const rb = q.run('normal', new AbortController().signal, b.job);
    await tick();
    const rc = q.run('high', new AbortController().signal, c.job);
    await expect(ra).rejects.toThrow("interrupted on target 'kitchen' by a high-priority request");
    await tick();
    expect(log).toEqual(['start a', 'start c']);
    c.release();
    b.release();
    expect(await rc).toBe('c');
    expect(await rb).toBe('b');
  });

  it('does not let a high job interrupt another high job', async () => {
    const q = new TargetQueue('t');
    const log: string[] = [];
    const [a, b] = [gate(log, 'a'), gate(log, 'b')];
    const ra = q.run('high', new AbortController().signal, a.job);
    const rb = q.run('high', new AbortController().signal, b.job);
    await tick();
    a.release();
    b.release();
    expect(await Promise.all([ra, rb])).toEqual(['a', 'b']);
  });

  it('drops a waiting job whose caller aborts', async () => {
    const q = new TargetQueue('t');
    const log: string[] = [];
    const [a, b] = [gate(log, 'a'), gate(log, 'b')];
    const ra = q.run('normal', new AbortController().signal, a.job);
    const cancel = new AbortController();
    const rb = q.run('normal', cancel.signal, b.job);
    cancel.abort(new Error('caller gone'));
    await expect(rb).rejects.toThrow('caller gone');
    a.release();
    await ra;
    expect(log).toEqual(['start a', 'end a']);
  });
});
