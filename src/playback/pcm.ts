/**
 * Decoding a cached audio file (Ogg Opus, MP3 or WAV) back to raw PCM for targets that take samples
 * (Wyoming snd services, Hermes audio servers), with one ffmpeg child per delivery.
 */

import { runFfmpeg } from '../audio/ffmpeg.js';
import type { AudioFormat } from '../audio/format.js';
import { type AudioSource, ffmpegInput } from '../audio/source.js';

/** What PCM targets receive: 22050 Hz, 16-bit, mono (Piper's common rate; Wyoming snd services convert). */
export const PLAYBACK_FORMAT: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };

/**
 * ffmpeg arguments that decode `input` (`['-i', path]` or `['-i', 'pipe:0']`) to s16le PCM in `format`, scaled
 * by `volume` (linear, 1 = as is). A plain string is taken as a file path.
 */
export function decodeArgs(input: string | string[], format: AudioFormat, volume?: number): string[] {
  const gain = volume !== undefined && volume !== 1 ? ['-af', `volume=${volume}`] : [];
  const from = typeof input === 'string' ? ['-i', input] : input;
  return [
    ...[...from, '-vn', ...gain],
    ...['-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(format.rateHz), '-ac', String(format.channels)],
    'pipe:1',
  ];
}

/**
 * Yields the PCM of a cached file (or of audio held in memory) as ffmpeg produces it (pieces of any size,
 * whole samples not guaranteed). Breaking out early or aborting kills ffmpeg.
 * @throws AppError FFMPEG_FAILED when the file does not decode; the abort reason when `signal` aborts.
 */
export async function* decodeToPcm(
  source: AudioSource | string,
  opts: { format?: AudioFormat; volume?: number; signal: AbortSignal },
): AsyncGenerator<Buffer> {
  const input = ffmpegInput(typeof source === 'string' ? { path: source } : source);
  const proc = runFfmpeg(decodeArgs(input.args, opts.format ?? PLAYBACK_FORMAT, opts.volume), opts.signal);
  proc.stdin.end(input.stdin);
  let finished = false;
  try {
    for await (const piece of proc.stdout) yield piece as Buffer;
    await proc.done;
    finished = true;
  } finally {
    if (!finished) proc.kill();
  }
}

/** Re-cuts a PCM stream into pieces of exactly `bytes` (the last one may be shorter, never empty). */
export async function* rechunk(source: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of source) {
    pending = pending.length ? Buffer.concat([pending, piece]) : piece;
    while (pending.length >= bytes) {
      yield pending.subarray(0, bytes);
      pending = pending.subarray(bytes);
    }
  }
  if (pending.length) yield pending;
}

/** Reads a whole PCM stream into one buffer. */
export async function collectPcm(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of source) parts.push(piece);
  return Buffer.concat(parts);
}
