/**
 * When a hub's Opus encodes leave the main thread (audio/encode-threads.ts, the hub's policy): a lone encode
 * stays on the main thread and starts no thread; an encode that begins while another runs starts the threads;
 * once they are up every encode runs on them; after a while without encodes they stop again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeThreads, useEncodeThreads } from '../../src/audio/encode-threads.js';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import { oggOpusDurationMs } from '../../src/audio/ogg.js';
import { encodeLive, tone } from '../helpers/live-encode.js';

const format: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
const IDLE_STOP_MS = 400;
let release: () => Promise<void> = async () => {};

/** Encodes `ms` of tone in 100 ms chunks; `during` is called while the encode runs (before the last chunk). */
async function encodeTone(ms: number, during = async (): Promise<void> => {}): Promise<Buffer> {
  async function* source(): AsyncGenerator<AudioChunk> {
    for (let at = 0; at < ms; at += 100) {
      if (at + 100 >= ms) await during();
      yield { format, pcm: tone(format, Math.min(100, ms - at)) };
    }
  }
  const parts: Buffer[] = [];
  const settings = { format: 'opus' as const, bitrateKbps: 32, signal: AbortSignal.timeout(20_000) };
  for await (const b of encodeLive(source(), settings)) parts.push(b);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  ({ release } = await useEncodeThreads(1, { eager: false, idleStopMs: IDLE_STOP_MS }));
});
afterAll(async () => {
  await release();
});

describe('encode threads on demand', () => {
  it('a lone encode stays on the main thread and starts no thread', async () => {
    const bytes = await encodeTone(1000);
    expect(Math.abs((oggOpusDurationMs(bytes) as number) - 1000)).toBeLessThan(1);
    expect(encodeThreads()).toBeUndefined();
  });

  it('an encode beside another starts the threads; later encodes run on them; idle, they stop', async () => {
    // The second encode begins while the first is still open: both on the main thread, the threads start.
    await encodeTone(600, async () => {
      await encodeTone(300);
    });
    await expect.poll(encodeThreads, { timeout: 10_000, interval: 10 }).toBeDefined();
    const pool = encodeThreads();
    await pool?.ready();
    let onThread = 0;
    const bytes = await encodeTone(800, async () => {
      onThread = pool?.running ?? 0;
    });
    expect(onThread).toBe(1);
    expect(Math.abs((oggOpusDurationMs(bytes) as number) - 800)).toBeLessThan(1);
    await expect.poll(encodeThreads, { timeout: 10_000, interval: 10 }).toBeUndefined(); // IDLE_STOP_MS idle
    const again = await encodeTone(500); // on the main thread again, and fine
    expect(Math.abs((oggOpusDurationMs(again) as number) - 500)).toBeLessThan(1);
  });
});
