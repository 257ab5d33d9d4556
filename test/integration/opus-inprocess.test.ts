/**
 * The in-process Ogg Opus encoder (libopus + our Ogg pages) against the real tools a user's player trusts:
 * ffprobe and ffmpeg (decode, loudness) and opus-tools' `opusinfo` (Xiph's own stream checker), on real
 * espeak-ng speech brought to each input rate by ffmpeg; and next to the ffmpeg encoder on the same PCM.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpusEncoderKind } from '../../src/audio/encoder.js';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import { oggOpusDurationMs } from '../../src/audio/ogg.js';
import { isAppError } from '../../src/shared/errors.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { encodeLive } from '../helpers/live-encode.js';
import { decodesCleanly, loudnessLufs } from '../helpers/loudness.js';

const run = promisify(execFile);
const TEXT =
  'The washing machine has finished. Please empty it before the clothes get wrinkled. Dinner is at seven.';

let dir = '';
/** espeak-ng's speech at 22,050 Hz, s16le mono. */
let speech22k = Buffer.alloc(0);

/** The same speech at `rateHz`, resampled by ffmpeg (soxr-free default resampler), s16le mono. */
function speechAt(rateHz: number): Buffer {
  if (rateHz === 22050) return speech22k;
  return execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', 's16le', '-ar', '22050', '-ac', '1', '-i', 'pipe:0', '-ar', String(rateHz)].concat([
      '-f',
      's16le',
      'pipe:1',
    ]),
    { input: speech22k, maxBuffer: 64 * 1024 * 1024 },
  );
}

/** `pcm` as chunks of uneven sizes (as engines send them), whole frames only. */
async function* chunks(pcm: Buffer, format: AudioFormat): AsyncGenerator<AudioChunk> {
  const sizes = [700, 4410, 13, 9000, 2048];
  const frame = format.widthBytes * format.channels;
  for (let at = 0, i = 0; at < pcm.length; i++) {
    const n = Math.max(
      frame,
      (sizes[i % sizes.length] as number) - ((sizes[i % sizes.length] as number) % frame),
    );
    yield { format, pcm: pcm.subarray(at, Math.min(pcm.length, at + n)) };
    at += n;
  }
}

async function encode(pcm: Buffer, format: AudioFormat, encoder: OpusEncoderKind): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of encodeLive(chunks(pcm, format), {
    format: 'opus',
    bitrateKbps: 32,
    encoder,
    signal: AbortSignal.timeout(30_000),
  })) {
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** `opusinfo` output for a file; it exits non-zero or prints WARNING/ERROR lines for a broken stream. */
async function opusinfo(file: string): Promise<string> {
  const { stdout, stderr } = await run('opusinfo', [file]);
  return stdout + stderr;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opus-inprocess-'));
  speech22k = execFileSync('espeak-ng', ['--stdout', TEXT]).subarray(44); // the WAV header is 44 bytes
  expect(speech22k.length).toBeGreaterThan(22050 * 2 * 3);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('in-process Ogg Opus', () => {
  it.each([8000, 16000, 22050, 24000, 48000])(
    'from %i Hz input decodes with ffprobe and opusinfo at the right duration (±20 ms)',
    async (rateHz) => {
      const format: AudioFormat = { rateHz, widthBytes: 2, channels: 1 };
      const pcm = speechAt(rateHz);
      const inputMs = (pcm.length / 2 / rateHz) * 1000;
      const spawns = ffmpegSpawnCount();
      const bytes = await encode(pcm, format, 'inprocess');
      expect(ffmpegSpawnCount()).toBe(spawns); // no child process on this path
      const file = join(dir, `speech-${rateHz}.opus`);
      await writeFile(file, bytes);
      const probe = await ffprobe(file);
      expect(probe.codec).toBe('opus');
      expect(probe.container).toBe('ogg');
      expect(probe.channels).toBe(1);
      expect(Math.abs(probe.durationMs - inputMs)).toBeLessThan(20);
      expect(Math.abs((oggOpusDurationMs(bytes) as number) - inputMs)).toBeLessThan(1);
      const info = await opusinfo(file);
      expect(info).not.toMatch(/WARNING|ERROR|Hole in data/i);
      expect(info).toMatch(new RegExp(`Original sample rate: ${rateHz} Hz`));
      expect(info).toMatch(/Page duration:\s+40\.0ms \(max\)/);
      const playback = /Playback length:\s+(\d+)m:([\d.]+)s/.exec(info);
      expect(Math.abs(Number(playback?.[2]) * 1000 - inputMs)).toBeLessThan(2);
      expect(await decodesCleanly(file)).toBe(true);
    },
  );

  it('matches the ffmpeg encoder on the same PCM: duration, loudness and a clean decode', async () => {
    const format: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
    const files: Record<OpusEncoderKind, string> = {
      inprocess: join(dir, 'same-inprocess.opus'),
      ffmpeg: join(dir, 'same-ffmpeg.opus'),
    };
    for (const kind of ['inprocess', 'ffmpeg'] as const) {
      await writeFile(files[kind], await encode(speech22k, format, kind));
    }
    const [a, b] = await Promise.all([ffprobe(files.inprocess), ffprobe(files.ffmpeg)]);
    expect(Math.abs(a.durationMs - b.durationMs)).toBeLessThan(20);
    const [la, lb] = await Promise.all([loudnessLufs(files.inprocess), loudnessLufs(files.ffmpeg)]);
    expect(Math.abs(la - lb)).toBeLessThan(1);
    expect(await decodesCleanly(files.inprocess)).toBe(true);
    expect(await decodesCleanly(files.ffmpeg)).toBe(true);
    // Both decode to the same number of samples (ffmpeg applies pre-skip and end trimming for both).
    const decoded = await Promise.all(
      Object.values(files).map(
        (f) =>
          execFileSync('ffmpeg', ['-v', 'error', '-i', f, '-f', 's16le', 'pipe:1'], { maxBuffer: 1 << 26 })
            .length,
      ),
    );
    expect(Math.abs((decoded[0] as number) - (decoded[1] as number))).toBeLessThanOrEqual(2 * 48);
  });

  it('hands out the first audio page with the headers before the rest of a long chunk is encoded', async () => {
    const format: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
    async function* one(): AsyncGenerator<AudioChunk> {
      yield { format, pcm: speech22k };
    }
    const it = encodeLive(one(), { format: 'opus', bitrateKbps: 32, signal: AbortSignal.timeout(10_000) })[
      Symbol.asyncIterator
    ]();
    const first = (await it.next()).value as Buffer;
    const granules: bigint[] = [];
    for (let at = first.indexOf('OggS'); at >= 0; at = first.indexOf('OggS', at + 4)) {
      granules.push(first.readBigInt64LE(at + 6));
    }
    expect(granules.slice(0, 2)).toEqual([0n, 0n]); // OpusHead, OpusTags
    expect(granules.length).toBe(3); // and exactly one 40 ms audio page
    expect(granules[2]).toBe(1920n);
    await it.return?.(undefined);
  });

  it('encodes stereo and converts a chunk in another format to the first one', async () => {
    const stereo: AudioFormat = { rateHz: 24000, widthBytes: 2, channels: 2 };
    const mono16k: AudioFormat = { rateHz: 16000, widthBytes: 2, channels: 1 };
    const tone = (f: AudioFormat, ms: number): Buffer => {
      const frames = (f.rateHz * ms) / 1000;
      const b = Buffer.alloc(frames * 2 * f.channels);
      for (let i = 0; i < frames * f.channels; i++) b.writeInt16LE(Math.round(6000 * Math.sin(i / 7)), i * 2);
      return b;
    };
    async function* source(): AsyncGenerator<AudioChunk> {
      yield { format: stereo, pcm: tone(stereo, 600) };
      yield { format: mono16k, pcm: tone(mono16k, 400) };
    }
    const parts: Buffer[] = [];
    for await (const b of encodeLive(source(), {
      format: 'opus',
      bitrateKbps: 48,
      signal: AbortSignal.timeout(10_000),
    }))
      parts.push(b);
    const probe = await ffprobe(Buffer.concat(parts));
    expect(probe.channels).toBe(2);
    expect(Math.abs(probe.durationMs - 1000)).toBeLessThan(20);
  });

  it('aborting stops the encode with ABORTED and ends the source; no ffmpeg runs', async () => {
    const ac = new AbortController();
    let sourceClosed = false;
    const format: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
    async function* endless(): AsyncGenerator<AudioChunk> {
      try {
        for (;;) {
          yield { format, pcm: speech22k.subarray(0, 4410) };
          await new Promise((r) => setTimeout(r, 5)); // paces the source like a live one; waits for nothing
        }
      } finally {
        sourceClosed = true;
      }
    }
    const spawns = ffmpegSpawnCount();
    let err: unknown;
    try {
      for await (const _ of encodeLive(endless(), { format: 'opus', bitrateKbps: 32, signal: ac.signal })) {
        ac.abort();
      }
    } catch (e) {
      err = e;
    }
    expect(isAppError(err, 'ABORTED')).toBe(true);
    expect(sourceClosed).toBe(true);
    expect(ffmpegSpawnCount()).toBe(spawns);
  });

  it('an engine error mid-stream is rethrown as it is', async () => {
    const format: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
    async function* failing(): AsyncGenerator<AudioChunk> {
      yield { format, pcm: speech22k.subarray(0, 22050) };
      throw new Error('engine died');
    }
    let err: unknown;
    try {
      for await (const _ of encodeLive(failing(), {
        format: 'opus',
        bitrateKbps: 32,
        signal: AbortSignal.timeout(5000),
      })) {
        // read on
      }
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe('engine died');
  });
});
