/**
 * The one cap on ffmpeg processes (`limits.ffmpeg_processes`) with real ffmpeg and the real hub in this process
 * (so the wrapper's counters are the hub's). Before issue 10: 100 concurrent /v1/audio/speech (pcm) ran 99
 * ffmpeg processes at once, and a client that disconnected early still cost its transcode. Since issue 12 pcm
 * is resampled in process, so these requests ask for aac, which still takes one ffmpeg per answer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ffmpegLoad, ffmpegSpawnCount, runFfmpeg } from '../../src/audio/ffmpeg.js';
import { sampleMax } from '../helpers/attack.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { ffmpegChildren } from '../helpers/recorder.js';

/** An ffmpeg that holds its slot until `stdin` ends (it reads raw PCM from stdin into nothing). */
function holdSlot() {
  return runFfmpeg(['-f', 's16le', '-ar', '16000', '-ac', '1', '-i', 'pipe:0', '-f', 'null', '-']);
}

/**
 * Takes every free slot and returns once all are taken and nothing waits (another process, such as a spare
 * encoder of the say path or an earlier transcode, may hold some for a while; starts are paced).
 */
async function holdAllSlots(): Promise<ReturnType<typeof holdSlot>[]> {
  // The test's own processes take every slot: a start that finds the cap full ends an idle spare encoder
  // (ffmpeg-slots.ts onSlotShortage), so none of the hub's spares keeps a slot.
  const held = Array.from({ length: ffmpegLoad().limit }, () => holdSlot());
  await vi.waitFor(
    () => {
      const { running, waiting, limit } = ffmpegLoad();
      expect({ running, waiting }, 'every slot held').toEqual({ running: limit, waiting: 0 });
      expect(
        held.every((p) => p.pid !== undefined),
        'every slot held by the test',
      ).toBe(true);
    },
    { timeout: 10_000, interval: 10 },
  );
  return held;
}

describe('the global ffmpeg cap', () => {
  let fx: HubFixture;
  const TEXT = 'The dishwasher has finished.';

  beforeAll(async () => {
    fx = await startHubFixture({ limits: { ffmpeg_processes: 4 } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  const speech = (signal?: AbortSignal) =>
    fetch(`${fx.url}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'espeak', input: TEXT, response_format: 'aac' }),
      signal,
    });

  it('100 concurrent /v1/audio/speech (aac) run at most limits.ffmpeg_processes ffmpeg at once, and all answer', async () => {
    const first = await speech();
    const expected = (await first.arrayBuffer()).byteLength;
    expect(expected).toBeGreaterThan(5_000);
    const children = sampleMax(async () => (await ffmpegChildren(process.pid)).length, 5);
    const queued = sampleMax(() => ffmpegLoad().waiting, 5);
    const answers = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await speech();
        return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
      }),
    );
    expect(answers.every((a) => a.status === 200 && a.bytes === expected)).toBe(true);
    expect(await children.stop()).toBeLessThanOrEqual(4);
    // The cap was what held the others back.
    expect(await queued.stop()).toBeGreaterThan(10);
    // Nothing left waiting; at most the say path's one idle spare encoder runs.
    expect(ffmpegLoad()).toMatchObject({ waiting: 0, limit: 4 });
    expect(ffmpegLoad().running).toBeLessThanOrEqual(1);
  });

  it('a client that disconnects while its transcode waits for a slot costs no transcode', async () => {
    await (await speech()).arrayBuffer(); // cached already; a repeat needs only the aac transcode
    const held = await holdAllSlots();
    try {
      const spawned = ffmpegSpawnCount();
      const leaving = new AbortController();
      const request = speech(leaving.signal).catch(() => undefined);
      await expect
        .poll(() => ffmpegLoad().waiting === 1, { timeout: 10_000, message: 'the transcode in line' })
        .toBe(true);
      leaving.abort();
      await request;
      await expect
        .poll(() => ffmpegLoad().waiting === 0, { timeout: 10_000, message: 'the transcode dropped' })
        .toBe(true);
      for (const p of held) p.stdin.end();
      await Promise.allSettled(held.map((p) => p.done));
      await new Promise((r) => setTimeout(r, 300)); // proves a negative: the dropped transcode never spawns
      expect(ffmpegSpawnCount()).toBe(spawned);
    } finally {
      for (const p of held) p.kill();
    }
  });

  it('queued ffmpeg runs start in arrival order, and an aborted one never starts', async () => {
    const held = await holdAllSlots();
    const gone = new AbortController();
    const waiting = [0, 1, 2].map((i) => {
      const p = runFfmpeg(
        ['-f', 'lavfi', '-i', 'anullsrc=d=0.05', '-f', 'null', '-'],
        i === 1 ? gone.signal : undefined,
      );
      expect(p.queued).toBe(true);
      expect(p.pid).toBeUndefined();
      return p;
    });
    gone.abort(new Error('client left'));
    await expect(waiting[1]?.done).rejects.toThrow('client left');
    expect(waiting[1]?.queued).toBe(false);
    // One slot frees: the first in line starts, the third still waits.
    held[0]?.stdin.end();
    await expect
      .poll(() => waiting[0]?.pid !== undefined, { timeout: 10_000, message: 'the first in line to start' })
      .toBe(true);
    expect(waiting[2]?.queued).toBe(true);
    held[1]?.stdin.end();
    await expect
      .poll(() => waiting[2]?.pid !== undefined, { timeout: 10_000, message: 'the third to start' })
      .toBe(true);
    await Promise.all([waiting[0]?.done, waiting[2]?.done]);
    expect(waiting[1]?.pid).toBeUndefined();
    for (const p of held) p.stdin.end();
    await Promise.allSettled(held.map((p) => p.done));
  });
});
