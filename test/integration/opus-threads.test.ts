/**
 * The in-process Ogg Opus encode on encode threads (audio/encode-pool.ts, node:worker_threads), through the
 * product's live encoder: the same audio as the main-thread encode (ffprobe, decoded samples), pages handed
 * out while the source is still open (a listener decodes a partial stream), back-pressure from a slow
 * consumer to the source, and a thread that dies mid-encode failing only its own encodes with a clear error.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncodePool } from '../../src/audio/encode-pool.js';
import { encodeThreads, useEncodeThreads } from '../../src/audio/encode-threads.js';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import { oggOpusDurationMs } from '../../src/audio/ogg.js';
import { encodeOpusOnThread } from '../../src/audio/thread-encode.js';
import { isAppError } from '../../src/shared/errors.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { completePages, encodeLive, tone } from '../helpers/live-encode.js';
import { decodesCleanly } from '../helpers/loudness.js';

const TEXT = 'The washing machine has finished. Please empty it before the clothes get wrinkled.';
const RATES = [8000, 16000, 22050, 24000, 48000];
const SETTINGS = { bitrateKbps: 32, complexity: 5 };
const mono = (rateHz: number): AudioFormat => ({ rateHz, widthBytes: 2, channels: 1 });

let dir = '';
/** espeak-ng's speech at each rate (ffmpeg's resampler), s16le mono. */
const speech = new Map<number, Buffer>();
/** The main-thread encode of each rate's speech, decoded by ffmpeg to 48 kHz s16le. */
const mainDecoded = new Map<number, Buffer>();
let release: () => Promise<void> = async () => {};

/** Decodes Ogg Opus bytes with ffmpeg to 48 kHz s16le mono. */
function decode(bytes: Buffer): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', 's16le', '-ac', '1', 'pipe:1'], {
    input: bytes,
    maxBuffer: 1 << 26,
  });
}

/** `pcm` in 4410-byte chunks; `onPull` is called for each chunk after the first (the encode is running). */
async function* chunks(
  pcm: Buffer,
  format: AudioFormat,
  onPull = (): void => {},
): AsyncGenerator<AudioChunk> {
  for (let at = 0, i = 0; at < pcm.length; at += 4410, i++) {
    if (i > 0) onPull();
    yield { format, pcm: pcm.subarray(at, at + 4410) };
  }
}

async function encodeAll(source: AsyncIterable<AudioChunk>): Promise<Buffer> {
  const parts: Buffer[] = [];
  const settings = { format: 'opus' as const, ...SETTINGS, signal: AbortSignal.timeout(20_000) };
  for await (const b of encodeLive(source, settings)) parts.push(b);
  return Buffer.concat(parts);
}

/**
 * Reads `it` until it throws; returns the error. Pages that left the thread before it died are still handed
 * out first. Fails the test when the encode ends normally.
 */
async function failureOf(it: AsyncIterator<Buffer>): Promise<unknown> {
  for (let n = 0; n < 20; n++) {
    const next = await it.next().catch((e: unknown) => ({ failed: e }));
    if ('failed' in next) return next.failed;
    expect(next.done).toBe(false);
  }
  throw new Error('the encode never failed');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opus-threads-'));
  const wav = execFileSync('espeak-ng', ['--stdout', TEXT]);
  for (const rateHz of RATES) {
    const args = ['-v', 'error', '-i', 'pipe:0', '-ar', String(rateHz), '-f', 's16le', 'pipe:1'];
    speech.set(rateHz, execFileSync('ffmpeg', args, { input: wav, maxBuffer: 1 << 26 }));
  }
  // References first, while every encode still runs on the main thread.
  expect(encodeThreads()).toBeUndefined();
  for (const rateHz of RATES) {
    mainDecoded.set(rateHz, decode(await encodeAll(chunks(speech.get(rateHz) as Buffer, mono(rateHz)))));
  }
  ({ release } = await useEncodeThreads(1));
});
afterAll(async () => {
  await release();
  await rm(dir, { recursive: true, force: true });
});

describe('Ogg Opus on an encode thread', () => {
  it.each(RATES)(
    'from %i Hz decodes at the right duration (±20 ms), as the main-thread encode',
    async (rateHz) => {
      const pcm = speech.get(rateHz) as Buffer;
      const inputMs = (pcm.length / 2 / rateHz) * 1000;
      let onThread = 0;
      const bytes = await encodeAll(
        chunks(pcm, mono(rateHz), () => {
          onThread = Math.max(onThread, encodeThreads()?.running ?? 0);
        }),
      );
      expect(onThread).toBe(1); // the encode ran on the thread
      const file = join(dir, `thread-${rateHz}.opus`);
      await writeFile(file, bytes);
      const probe = await ffprobe(file);
      expect(probe.codec).toBe('opus');
      expect(Math.abs(probe.durationMs - inputMs)).toBeLessThan(20);
      expect(Math.abs((oggOpusDurationMs(bytes) as number) - inputMs)).toBeLessThan(1);
      expect(await decodesCleanly(file)).toBe(true);
      // libopus is deterministic: the same PCM and settings decode to the same samples on either thread.
      expect(decode(bytes).equals(mainDecoded.get(rateHz) as Buffer)).toBe(true);
      expect(encodeThreads()?.running).toBe(0);
    },
  );

  it('a listener decodes a partial stream mid-way, while the source is still open', async () => {
    const format = mono(22050);
    let release2: () => void = () => {};
    const held = new Promise<void>((r) => {
      release2 = r;
    });
    async function* source(): AsyncGenerator<AudioChunk> {
      yield { format, pcm: tone(format, 2000) };
      await held; // the rest comes only after the test has decoded what it got
      yield { format, pcm: tone(format, 1500) };
    }
    const settings = { format: 'opus' as const, ...SETTINGS, signal: AbortSignal.timeout(20_000) };
    const it = encodeLive(source(), settings)[Symbol.asyncIterator]();
    let got = Buffer.alloc(0);
    while (completePages(got).granule < 48_000n) {
      const next = await it.next();
      expect(next.done).toBe(false);
      got = Buffer.concat([got, next.value as Buffer]);
    }
    const partial = join(dir, 'partial.opus');
    await writeFile(partial, completePages(got).bytes);
    expect(await decodesCleanly(partial)).toBe(true);
    expect(decode(completePages(got).bytes).length / 2 / 48).toBeGreaterThan(950);
    release2();
    for (let next = await it.next(); !next.done; next = await it.next())
      got = Buffer.concat([got, next.value]);
    expect(Math.abs((await ffprobe(got)).durationMs - 3500)).toBeLessThan(20);
  });

  it('a consumer that stops reading stops the source: at most 250 ms of PCM waits on the thread', async () => {
    const format = mono(22050);
    let pulled = 0;
    let closed = false;
    async function* endless(): AsyncGenerator<AudioChunk> {
      try {
        for (;;) {
          pulled++;
          yield { format, pcm: tone(format, 100) };
        }
      } finally {
        closed = true;
      }
    }
    const ac = new AbortController();
    const it = encodeLive(endless(), { format: 'opus', ...SETTINGS, signal: ac.signal })[
      Symbol.asyncIterator
    ]();
    await it.next();
    await new Promise((r) => setTimeout(r, 400)); // the consumer pauses; an unbounded reader would pull on
    expect(pulled).toBeLessThanOrEqual(5);
    ac.abort();
    const err = await it.next().catch((e: unknown) => e);
    expect(isAppError(err, 'ABORTED')).toBe(true);
    expect(closed).toBe(true);
    expect(encodeThreads()?.running).toBe(0);
  });
});

describe('errors on an encode thread', () => {
  it('an engine error mid-stream is rethrown as it is; the thread is free again', async () => {
    const format = mono(22050);
    async function* failing(): AsyncGenerator<AudioChunk> {
      yield { format, pcm: tone(format, 500) };
      throw new Error('engine died');
    }
    const settings = { format: 'opus' as const, ...SETTINGS, signal: AbortSignal.timeout(10_000) };
    const err = await (async () => {
      for await (const _ of encodeLive(failing(), settings)) {
        // read on
      }
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe('engine died');
    expect(encodeThreads()?.running).toBe(0);
  });
});

describe('an encode thread that dies', () => {
  it('fails its encode with ENCODER_FAILED at once, the engine still speaking; a new thread takes the next', async () => {
    const pool = encodeThreads() as EncodePool;
    const format = mono(22050);
    let closed = false;
    async function* source(): AsyncGenerator<AudioChunk> {
      try {
        yield { format, pcm: tone(format, 100) };
        await new Promise(() => {}); // the engine is still speaking when the thread dies
      } finally {
        closed = true;
      }
    }
    const settings = { format: 'opus' as const, ...SETTINGS, signal: AbortSignal.timeout(20_000) };
    const it = encodeLive(source(), settings)[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const [dying] = pool.workers();
    const dyingId = dying?.threadId;
    await dying?.terminate();
    const err = await failureOf(it);
    expect(isAppError(err, 'ENCODER_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/Opus encode thread stopped mid-encode \(exit code 1\)/);
    expect(pool.running).toBe(0);
    // The next say: a new thread (started at once), the right audio.
    const bytes = await encodeAll(chunks(speech.get(22050) as Buffer, format));
    expect(pool.workers()[0]?.threadId).not.toBe(dyingId);
    expect(decode(bytes).equals(mainDecoded.get(22050) as Buffer)).toBe(true);
    expect(closed).toBe(false); // a source blocked in the engine is not awaited: its return is queued behind it
  });

  it('with two threads, only the encodes of the dead one fail', async () => {
    const pool = new EncodePool(2);
    try {
      await pool.ready();
      const format = mono(16000);
      const start = (ms: number) => {
        let go: () => void = () => {};
        const gate = new Promise<void>((r) => {
          go = r;
        });
        async function* rest(): AsyncGenerator<AudioChunk> {
          await gate;
          yield { format, pcm: tone(format, ms) };
        }
        const first = { format, pcm: tone(format, 500) };
        const signal = AbortSignal.timeout(20_000);
        const enc = encodeOpusOnThread(
          { first, rest: rest(), settings: SETTINGS, signal, onInput() {} },
          pool,
        );
        return { it: enc[Symbol.asyncIterator](), go };
      };
      const a = start(700);
      const b = start(900);
      await Promise.all([a.it.next(), b.it.next()]); // both running, one per thread (fewest encodes first)
      expect(pool.running).toBe(2);
      await pool.workers()[0]?.terminate(); // the thread of `a`, the first opened
      expect(isAppError(await failureOf(a.it), 'ENCODER_FAILED')).toBe(true);
      b.go();
      const parts: Buffer[] = [];
      for (let n = await b.it.next(); !n.done; n = await b.it.next()) parts.push(n.value);
      expect(parts.length).toBeGreaterThan(0);
      expect(pool.workers()).toHaveLength(2);
    } finally {
      await pool.stop();
    }
  });
});
