/**
 * Audio taps of a live job: a cached entry replayed into it, and the PCM an attempt encodes handed to its PCM
 * listeners (as the encoded file holds it) while passing through unchanged.
 */
import { performance } from 'node:perf_hooks';
import { convertPcm } from '../audio/convert.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import { applyGain } from '../audio/loudness.js';
import { openAudio } from '../audio/source.js';
import type { CacheEntry } from '../cache/store.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { LiveJob } from './live-audio.js';

/**
 * Plays an already cached entry into the live job (a fallback engine whose audio was cached).
 * @throws AppError CACHE_IO when the file cannot be read.
 */
export async function replayEntry(entry: CacheEntry, job: LiveJob, signal: AbortSignal): Promise<number> {
  const at = performance.now();
  try {
    for await (const buf of openAudio(entry, undefined, signal)) job.push(buf as Buffer);
  } catch (err) {
    throw signal.aborted
      ? toAppError(signal.reason)
      : new AppError('CACHE_IO', `cannot read ${entry.path}`, { cause: err });
  }
  return at;
}

/** Passes `chunks` through, telling `seen` each non-empty chunk's format. */
export async function* tapFormat(
  chunks: AsyncIterable<AudioChunk>,
  seen: (format: AudioFormat) => void,
): AsyncGenerator<AudioChunk> {
  for await (const chunk of chunks) {
    if (chunk.pcm.length) seen(chunk.format);
    yield chunk;
  }
}

/**
 * Passes `source` through unchanged while handing the job a copy for its PCM listeners: in the first chunk's
 * format throughout (the encoder converts the same way) and with the engine's `gain_db` applied (the encoder
 * applies it in ffmpeg), so PCM listeners hear what the encoded file holds.
 */
export async function* tapPcm(
  source: AsyncIterable<AudioChunk>,
  job: LiveJob,
  gainDb: number | undefined,
): AsyncGenerator<AudioChunk> {
  let format: AudioFormat | undefined;
  for await (const chunk of source) {
    if (chunk.pcm.length > 0) {
      format ??= chunk.format;
      const pcm = applyGain(convertPcm(chunk.pcm, chunk.format, format), format, gainDb ?? 0);
      job.pushPcm({ format, pcm });
    }
    yield chunk;
  }
}
