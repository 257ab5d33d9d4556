import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { transcodeFile } from '../../src/audio/encoder.js';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import {
  type AudioChunk,
  type AudioFormat,
  type OutputFormat,
  pcmDurationMs,
} from '../../src/audio/format.js';
import { oggOpusDurationMs, oggOpusFileDurationMs } from '../../src/audio/ogg.js';
import { parseWavStream, patchWavSizes } from '../../src/audio/wav.js';
import { AppError, isAppError } from '../../src/shared/errors.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { encodeLive, heldSource, readReleasingAtFirstAudio, tone } from '../helpers/live-encode.js';

const TEXT = 'The washing machine has finished. Please empty it before the clothes get wrinkled.';
const MONO_22K: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };

/** Real speech: espeak-ng --stdout streams a WAV whose header declares about 2 GB of data. */
function espeakChunks(text: string): AsyncIterable<AudioChunk> {
  const child = spawn('espeak-ng', ['--stdout', text], { stdio: ['ignore', 'pipe', 'ignore'] });
  return parseWavStream(child.stdout);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of source) parts.push(b);
  return Buffer.concat(parts);
}

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

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

let speechMs = 0;
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'encoder-test-'));
  let bytes = 0;
  let format: AudioFormat | undefined;
  for await (const c of espeakChunks(TEXT)) {
    bytes += c.pcm.length;
    format = c.format;
  }
  speechMs = pcmDurationMs(bytes, format!);
  expect(speechMs).toBeGreaterThan(2000);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the live encoder (say/live-encoder.ts) with real espeak-ng speech and ffmpeg', () => {
  it.each([
    ['opus', 'opus', 'ogg'],
    ['mp3', 'mp3', 'mp3'],
    ['wav', 'pcm_s16le', 'wav'],
  ] as const)('encodes %s of the right duration', async (format: OutputFormat, codec, container) => {
    const encoded = encodeLive(espeakChunks(TEXT), {
      format,
      bitrateKbps: 32,
      signal: new AbortController().signal,
    });
    const bytes = await collect(encoded);
    expect(encoded.inputDurationMs).toBeCloseTo(speechMs, 0);
    if (format === 'wav') {
      expect(bytes.readUInt32LE(40)).toBeGreaterThan(bytes.length); // live header: unknown length
      patchWavSizes(bytes, bytes.length); // what the cache does on commit
    }
    const probe = await ffprobe(bytes);
    expect(probe.codec).toBe(codec);
    expect(probe.container).toBe(container);
    expect(probe.channels).toBe(1);
    expect(Math.abs(probe.durationMs - speechMs)).toBeLessThan(format === 'mp3' ? 120 : 40);
    if (format === 'opus') {
      expect(probe.sampleRateHz).toBe(48000);
      expect(Math.abs(oggOpusDurationMs(bytes)! - probe.durationMs)).toBeLessThan(25);
    }
  });

  it('yields Ogg pages with audio before the source has finished', async () => {
    const held = heldSource(MONO_22K, 1000, 500);
    const { all, sawAudioEarly } = await readReleasingAtFirstAudio(
      encodeLive(held.source, { format: 'opus', bitrateKbps: 24, signal: AbortSignal.timeout(20_000) }),
      held.release,
    );
    expect(sawAudioEarly).toBe(true);
    expect((await ffprobe(all)).durationMs).toBeCloseTo(1500, -2);
  });

  it('converts a chunk whose format changes mid-stream to the first format', async () => {
    const other: AudioFormat = { rateHz: 16000, widthBytes: 2, channels: 2 };
    async function* source(): AsyncIterable<AudioChunk> {
      yield { format: MONO_22K, pcm: tone(MONO_22K, 700) };
      yield { format: other, pcm: tone(other, 800) };
    }
    const encoded = encodeLive(source(), {
      format: 'wav',
      bitrateKbps: 0,
      signal: new AbortController().signal,
    });
    const bytes = await collect(encoded);
    patchWavSizes(bytes, bytes.length);
    const probe = await ffprobe(bytes);
    expect(probe.sampleRateHz).toBe(22050);
    expect(probe.durationMs).toBeCloseTo(1500, -1);
  });

  it('throws ENGINE_FAILED "no audio" for a source without PCM, and starts no ffmpeg', async () => {
    async function* empty(): AsyncIterable<AudioChunk> {
      yield { format: MONO_22K, pcm: Buffer.alloc(0) };
    }
    const before = ffmpegSpawnCount();
    const err = await failure(() =>
      collect(encodeLive(empty(), { format: 'opus', bitrateKbps: 24, signal: new AbortController().signal })),
    );
    expect(isAppError(err, 'ENGINE_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/no audio/);
    expect(ffmpegSpawnCount()).toBe(before);
  });

  it('reports FFMPEG_FAILED with the reason of ffmpeg when it refuses the job (bitrate out of range)', async () => {
    async function* one(): AsyncIterable<AudioChunk> {
      yield { format: MONO_22K, pcm: tone(MONO_22K, 200) };
    }
    const err = await failure(() =>
      collect(
        encodeLive(one(), {
          format: 'opus',
          encoder: 'ffmpeg',
          bitrateKbps: 1_000_000,
          signal: new AbortController().signal,
        }),
      ),
    );
    expect(isAppError(err, 'FFMPEG_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/ffmpeg failed.*bit rate/);
  });

  it('rethrows the engine error and kills ffmpeg when the source fails mid-stream', async () => {
    async function* failing(): AsyncIterable<AudioChunk> {
      yield { format: MONO_22K, pcm: tone(MONO_22K, 300) };
      throw new AppError('ENGINE_TIMEOUT', 'engine took too long');
    }
    const err = await failure(() =>
      collect(
        encodeLive(failing(), {
          format: 'opus',
          encoder: 'ffmpeg',
          bitrateKbps: 24,
          signal: new AbortController().signal,
        }),
      ),
    );
    expect(isAppError(err, 'ENGINE_TIMEOUT')).toBe(true);
    await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
  });

  it('abort kills ffmpeg and rejects with ABORTED', async () => {
    const ac = new AbortController();
    async function* endless(): AsyncIterable<AudioChunk> {
      while (!ac.signal.aborted) {
        yield { format: MONO_22K, pcm: tone(MONO_22K, 100) };
        await new Promise((r) => setTimeout(r, 20)); // paces the source like a live one; waits for nothing
      }
    }
    const before = ffmpegSpawnCount();
    const err = await failure(async () => {
      for await (const _ of encodeLive(endless(), {
        format: 'opus',
        encoder: 'ffmpeg',
        bitrateKbps: 24,
        signal: ac.signal,
      })) {
        expect(ffmpegSpawnCount()).toBe(before + 1);
        ac.abort();
      }
    });
    expect(isAppError(err, 'ABORTED')).toBe(true);
    await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
  });

  it('a listener that stops reading early kills ffmpeg', async () => {
    async function* endless(): AsyncIterable<AudioChunk> {
      for (;;) {
        yield { format: MONO_22K, pcm: tone(MONO_22K, 100) };
        await new Promise((r) => setTimeout(r, 20)); // paces the source like a live one; waits for nothing
      }
    }
    for await (const _ of encodeLive(endless(), {
      format: 'mp3',
      bitrateKbps: 32,
      signal: new AbortController().signal,
    })) {
      break;
    }
    await vi.waitFor(() => expect(ffmpegChildren()).toEqual([]), { timeout: 5000 });
  });
});

describe('transcodeFile and Ogg duration', () => {
  it('derives mp3 and wav from a cached opus file with the same duration', async () => {
    const opus = await collect(
      encodeLive(espeakChunks(TEXT), {
        format: 'opus',
        bitrateKbps: 32,
        signal: new AbortController().signal,
      }),
    );
    const opusPath = join(dir, 'speech.opus');
    await writeFile(opusPath, opus);
    const opusMs = await oggOpusFileDurationMs(opusPath);
    expect(opusMs).toBeCloseTo((await ffprobe(opusPath)).durationMs, -2);
    for (const [format, codec] of [
      ['mp3', 'mp3'],
      ['wav', 'pcm_s16le'],
    ] as const) {
      const out = join(dir, `derived.${format}.tmp`);
      await transcodeFile(opusPath, out, format, { bitrateKbps: 64, signal: new AbortController().signal });
      const probe = await ffprobe(out);
      expect(probe.codec).toBe(codec);
      expect(Math.abs(probe.durationMs - opusMs!)).toBeLessThan(100);
    }
  });

  it('transcodeFile reports FFMPEG_FAILED for a file that is not audio', async () => {
    const bogus = join(dir, 'bogus.opus');
    await writeFile(bogus, 'not audio');
    const err = await failure(() =>
      transcodeFile(bogus, join(dir, 'x.mp3'), 'mp3', {
        bitrateKbps: 64,
        signal: new AbortController().signal,
      }),
    );
    expect(isAppError(err, 'FFMPEG_FAILED')).toBe(true);
  });

  it('oggOpusDurationMs gives undefined for bytes that are not Ogg Opus', async () => {
    expect(oggOpusDurationMs(Buffer.from('hello'))).toBeUndefined();
    expect(oggOpusDurationMs(await readFile(join(dir, 'bogus.opus')))).toBeUndefined();
  });
});
