/**
 * Decoding a cached audio file (Ogg Opus, MP3 or WAV) back to raw PCM for targets that take samples
 * (Wyoming snd services, Hermes audio servers), with one ffmpeg child per delivery.
 */

import { runFfmpeg } from '../audio/ffmpeg.js';
import { decodeToPcmArgs } from '../audio/ffmpeg-args.js';
import { type AudioFormat, SPEECH_PCM_FORMAT } from '../audio/format.js';
import { type AudioSource, ffmpegInput } from '../audio/source.js';

/** What PCM targets receive: SPEECH_PCM_FORMAT (22,050 Hz 16-bit mono; Wyoming snd services convert). */
export const PLAYBACK_FORMAT: AudioFormat = SPEECH_PCM_FORMAT;

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
  const proc = runFfmpeg(
    decodeToPcmArgs(input.args, opts.format ?? PLAYBACK_FORMAT, { volume: opts.volume }),
    opts.signal,
  );
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
