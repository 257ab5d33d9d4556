/**
 * The say path's live encoder (src/say/live-encoder.ts) with its pool of spare ffmpeg processes, against real
 * ffmpeg and ffprobe: a spare is taken instead of a new start, a listener gets audio while the source still
 * speaks, a wrong guess is replaced, and abort / close leave no ffmpeg behind.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EncodeSettings } from '../../src/audio/encoder.js';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { type AudioChunk, type AudioFormat, MIC_FORMAT } from '../../src/audio/format.js';
import {
  createEncoderPool,
  type EncoderPool,
  liveEncoderArgs,
  startLiveEncoder,
} from '../../src/say/live-encoder.js';
import { isAppError } from '../../src/shared/errors.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { heldSource, readReleasingAtFirstAudio, tone } from '../helpers/live-encode.js';

const MONO_22K: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
const MP3: EncodeSettings = { format: 'mp3', bitrateKbps: 32 };
const OPUS_FFMPEG: EncodeSettings = { format: 'opus', bitrateKbps: 24, encoder: 'ffmpeg' };

async function* tones(ms: number[]): AsyncGenerator<AudioChunk> {
  for (const m of ms) yield { format: MONO_22K, pcm: tone(MONO_22K, m) };
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of source) parts.push(b);
  return Buffer.concat(parts);
}

/** Process ids of this process's ffmpeg children. */
function ffmpegChildren(): number[] {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter((l) => l.includes('ffmpeg'))
      .map((l) => Number.parseInt(l, 10));
  } catch {
    return []; // ps exits 1 when there are no children
  }
}

let pool: EncoderPool | undefined;
afterEach(async () => {
  pool?.close();
  pool = undefined;
  await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
});

describe('live encoder with its spare pool', () => {
  it('takes a ready spare instead of starting ffmpeg, and leaves a new spare after the encode', async () => {
    pool = createEncoderPool();
    pool.refill(liveEncoderArgs(MONO_22K, MP3));
    const withSpare = ffmpegSpawnCount();
    const encoder = startLiveEncoder({
      settings: MP3,
      guess: MONO_22K,
      signal: AbortSignal.timeout(20_000),
      pool,
    });
    expect(ffmpegSpawnCount()).toBe(withSpare);
    const bytes = await collect(encoder.encode(tones([400, 600])));
    expect(encoder.inputDurationMs).toBeCloseTo(1000, 0);
    const probe = await ffprobe(bytes);
    expect(probe.codec).toBe('mp3');
    expect(probe.sampleRateHz).toBe(48000);
    expect(Math.abs(probe.durationMs - 1000)).toBeLessThan(120);
    // The encode refilled the pool: one more ffmpeg, waiting idle for the next say.
    expect(ffmpegSpawnCount()).toBe(withSpare + 1);
    expect(ffmpegChildren()).toHaveLength(1);
  });

  it('tells how much MP3 is out while the source holds back (the say waits on it before its second sentence)', async () => {
    const held = heldSource(MONO_22K, 2000, 500);
    const encoder = startLiveEncoder({ settings: MP3, guess: MONO_22K, signal: AbortSignal.timeout(20_000) });
    const reading = collect(encoder.encode(held.source));
    // While the source holds its second chunk back, ffmpeg's output comes to cover the first (but its last
    // frames, which MP3 holds until more input comes), estimated at the nominal bitrate.
    await vi.waitFor(
      () => {
        expect(encoder.inputDurationMs).toBeCloseTo(2000, 0);
        expect(encoder.outputMs).toBeGreaterThan(2000 - 250);
      },
      { timeout: 5000 },
    );
    expect(encoder.outputMs).toBeLessThan(2000 + 50);
    held.release();
    await reading;
    expect(encoder.outputMs).toBeCloseTo(2500, 0);
  });

  it('serves a listener mid-stream: Ogg pages with audio come before the source has finished', async () => {
    pool = createEncoderPool();
    pool.refill(liveEncoderArgs(MONO_22K, OPUS_FFMPEG));
    const held = heldSource(MONO_22K, 1000, 500);
    const encoder = startLiveEncoder({
      settings: OPUS_FFMPEG,
      guess: MONO_22K,
      signal: AbortSignal.timeout(20_000),
      pool,
    });
    const { all, sawAudioEarly } = await readReleasingAtFirstAudio(encoder.encode(held.source), held.release);
    expect(sawAudioEarly).toBe(true);
    expect((await ffprobe(all)).durationMs).toBeCloseTo(1500, -2);
  });

  it('replaces a wrongly guessed ffmpeg when the first chunk shows the real format', async () => {
    pool = createEncoderPool();
    const before = ffmpegSpawnCount();
    const encoder = startLiveEncoder({
      settings: MP3,
      guess: MIC_FORMAT,
      signal: AbortSignal.timeout(20_000),
      pool,
    });
    expect(ffmpegSpawnCount()).toBe(before + 1);
    const probe = await ffprobe(await collect(encoder.encode(tones([700]))));
    expect(Math.abs(probe.durationMs - 700)).toBeLessThan(120);
    // The guess, the real one, and the spare for next time.
    expect(ffmpegSpawnCount()).toBe(before + 3);
  });

  it('abort mid-stream ends the encode with the abort reason; with the pool closed no ffmpeg is left', async () => {
    pool = createEncoderPool();
    pool.refill(liveEncoderArgs(MONO_22K, MP3));
    const ac = new AbortController();
    async function* endless(): AsyncGenerator<AudioChunk> {
      while (!ac.signal.aborted) {
        yield { format: MONO_22K, pcm: tone(MONO_22K, 100) };
        await new Promise((r) => setTimeout(r, 20)); // paces the source like a live one; waits for nothing
      }
    }
    const encoder = startLiveEncoder({ settings: MP3, guess: MONO_22K, signal: ac.signal, pool });
    let err: unknown;
    try {
      for await (const _ of encoder.encode(endless())) ac.abort();
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'ABORTED')).toBe(true);
    encoder.close();
    pool.close();
    await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
  });

  it('close() of an encoder that never ran kills its started ffmpeg', async () => {
    const encoder = startLiveEncoder({ settings: MP3, guess: MONO_22K, signal: AbortSignal.timeout(20_000) });
    expect(ffmpegChildren().length).toBeGreaterThan(0);
    encoder.close();
    await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
  });
});
