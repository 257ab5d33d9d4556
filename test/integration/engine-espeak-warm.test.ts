/**
 * Warm espeak-ng (tts/engines/espeak-server.ts and .py, real python3 and libespeak-ng): the audio is the CLI's,
 * processes are reused, an abort leaves the pool working, and a hub without python3 falls
 * back to one espeak-ng per say.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLog } from '../../src/shared/log.js';
import { createEspeakEngine } from '../../src/tts/engines/espeak.js';
import { createEspeakServers } from '../../src/tts/engines/espeak-server.js';
import { collect, failure } from '../servers/collect.js';

const log = silentLog();
const TEXT = 'The kitchen timer has finished and the oven is now preheated, number 42.';
const LONG_TEXT = Array.from({ length: 30 }, (_, i) => `This is sentence number ${i + 1} of a story.`).join(
  ' ',
);

/** The warm espeak-ng processes this test process has running now. */
function warmProcesses(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('espeak-server.py'));
}

describe('warm espeak-ng', () => {
  const servers = createEspeakServers({ engine: 'warm' });
  afterAll(() => servers.close());

  it('gives a fresh process’s first utterance byte for byte as the CLI, later ones within 1 % of its length', async () => {
    const cli = createEspeakEngine({ name: 'cli', log, warm: false });
    const warm = createEspeakEngine({ name: 'warm', log });
    const expected = await collect(cli, { text: TEXT });
    const first = await collect(warm, { text: TEXT });
    expect(first.format).toEqual(expected.format);
    expect(first.pcm.equals(expected.pcm)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const again = await collect(warm, { text: TEXT });
      expect(Math.abs(again.durationMs - expected.durationMs)).toBeLessThan(expected.durationMs * 0.01);
    }
  });

  it('serves one request after another from one process, whatever the voice', async () => {
    const before = warmProcesses().length;
    const say = async (voice: string): Promise<number> => {
      let bytes = 0;
      for await (const c of servers.synthesize(voice, TEXT, new AbortController().signal))
        bytes += c.pcm.length;
      return bytes;
    };
    expect(await say('en')).toBeGreaterThan(50_000);
    expect(await say('de')).toBeGreaterThan(50_000);
    expect(await say('en-us')).toBeGreaterThan(50_000);
    expect(warmProcesses()).toHaveLength(before + 1);
  });

  it('kills the process serving an aborted request; the next request gets a new one', async () => {
    const before = warmProcesses().length;
    const ac = new AbortController();
    const err = await failure(async () => {
      for await (const _c of servers.synthesize('en', LONG_TEXT, ac.signal)) ac.abort();
    });
    expect(err.code).toBe('ABORTED');
    await expect.poll(() => warmProcesses().length, { timeout: 5000 }).toBe(before - 1);
    let bytes = 0;
    for await (const c of servers.synthesize('en', TEXT, new AbortController().signal)) bytes += c.pcm.length;
    expect(bytes).toBeGreaterThan(50_000);
    expect(warmProcesses()).toHaveLength(before);
  });

  it('falls back to one espeak-ng per say when no warm process can start', async () => {
    const engine = createEspeakEngine({ name: 'nopython', log, python: '/nonexistent/python3' });
    const cli = createEspeakEngine({ name: 'cli', log, warm: false });
    const got = await collect(engine, { text: TEXT });
    expect(got.pcm.equals((await collect(cli, { text: TEXT })).pcm)).toBe(true);
    expect((await collect(engine, { text: TEXT })).durationMs).toBeGreaterThan(1000);
  });
});
