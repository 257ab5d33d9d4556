/**
 * Reading cached audio wherever it is: a file on the share volume, or bytes held in memory while the disk
 * refuses writes (CacheEntry `data`). Every reader of cached audio (HTTP, targets, the Wyoming server, the
 * OpenAI-style endpoint, format derivation) goes through these, so a degraded cache still plays.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

/** What these helpers read: a file path, or in-memory bytes (which win when present). */
export interface AudioSource {
  /** The file; '' for audio held in memory. */
  path: string;
  /** The bytes of audio held in memory only. */
  data?: Buffer;
}

/**
 * A byte stream of the audio, optionally of the inclusive byte range `start`..`end`.
 * Aborting `signal` destroys the file stream.
 */
export function openAudio(
  source: AudioSource,
  range?: { start: number; end: number },
  signal?: AbortSignal,
): Readable {
  if (source.data) {
    const bytes = range ? source.data.subarray(range.start, range.end + 1) : source.data;
    return Readable.from([bytes], { objectMode: false });
  }
  return createReadStream(source.path, { ...(range ?? {}), ...(signal ? { signal } : {}) });
}

/**
 * ffmpeg's input arguments for the audio and what to write to its stdin: `-i <path>` for a file, `-i pipe:0`
 * plus the bytes for audio in memory. Write `stdin` (when set) and end ffmpeg's stdin either way.
 */
export function ffmpegInput(source: AudioSource): { args: string[]; stdin: Buffer | undefined } {
  return source.data
    ? { args: ['-i', 'pipe:0'], stdin: source.data }
    : { args: ['-i', source.path], stdin: undefined };
}
