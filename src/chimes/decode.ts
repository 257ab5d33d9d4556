/**
 * Decoding chime files to PCM with ffmpeg, once per file content (hash) and format, kept in memory (LRU bounded
 * by bytes). A file that is not audio, holds no audio or is longer than the limit is CHIME_INVALID; that verdict
 * is remembered per content too, so a broken file costs one ffmpeg run until it changes. Concurrent requests
 * for the same chime share one decode.
 */
import { LRUCache } from 'lru-cache';
import { runFfmpeg } from '../audio/ffmpeg.js';
import { decodeToPcmArgs } from '../audio/ffmpeg-args.js';
import { type AudioFormat, bytesPerSecond, pcmDurationMs, SPEECH_PCM_FORMAT } from '../audio/format.js';
import { AppError, isAppError, toAppError } from '../shared/errors.js';
import type { ChimeRef } from './library.js';

/** Memory held by decoded chimes at most, in bytes (about 3 minutes of 22 kHz mono). */
export const CHIME_PCM_CACHE_BYTES = 16 * 1024 * 1024;
/** Longest a chime decode may take, in ms. */
const DECODE_TIMEOUT_MS = 15_000;
/** Codec padding tolerated beyond the length limit, in ms (MP3 and Opus frames round the length up). */
const LENGTH_SLACK_MS = 50;
/** The format chimes are probed in for listing (their length). */
const PROBE_FORMAT: AudioFormat = SPEECH_PCM_FORMAT;
/** Most failed contents remembered. */
const MAX_FAILURES = 200;

/** Decodes chimes (see the module comment). */
export interface ChimeDecoder {
  /**
   * The PCM of `ref` as 16-bit samples at `format.rateHz` and `format.channels`.
   * @throws AppError CHIME_INVALID (the file: not audio, no audio, too long; remembered until it changes),
   *   FFMPEG_FAILED (ffmpeg timed out or was killed; not remembered); the abort reason when `signal` aborts
   *   (the shared decode goes on).
   */
  pcm(ref: ChimeRef, format: AudioFormat, signal: AbortSignal): Promise<Buffer>;
  /** The chime's length in ms. @throws AppError CHIME_INVALID; the abort reason. */
  probe(ref: ChimeRef, signal: AbortSignal): Promise<{ durationMs: number }>;
}

/** `promise`, or the abort reason of `signal` if it aborts first (the work behind `promise` goes on). */
function orAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Runs ffmpeg once on a chime: 16-bit PCM in `format`; @throws CHIME_INVALID (the file's fault) or FFMPEG_FAILED. */
async function decodeChime(ref: ChimeRef, format: AudioFormat, maxDurationMs: number): Promise<Buffer> {
  const f: AudioFormat = { ...format, widthBytes: 2 };
  const cap = (maxDurationMs + LENGTH_SLACK_MS + 100) / 1000;
  const proc = runFfmpeg(
    decodeToPcmArgs(['-i', ref.path], f, { maxSeconds: cap }),
    AbortSignal.timeout(DECODE_TIMEOUT_MS),
  );
  proc.stdin.end();
  const parts: Buffer[] = [];
  for await (const piece of proc.stdout) parts.push(piece as Buffer);
  try {
    await proc.done;
  } catch (err) {
    // ffmpeg exiting with an error code is the file's fault; a timeout or a killed ffmpeg is not (retried later).
    if (!isAppError(err, 'FFMPEG_FAILED') || typeof err.details?.code !== 'number') {
      throw new AppError('FFMPEG_FAILED', `chime '${ref.name}' could not be decoded now: ${String(err)}`, {
        cause: err,
      });
    }
    const why = err.message.replace(/^ffmpeg failed \([^)]*\): /, '');
    throw new AppError('CHIME_INVALID', `chime '${ref.name}' does not decode as audio: ${why}`, {
      cause: err,
    });
  }
  const frameBytes = 2 * f.channels;
  const pcm = Buffer.concat(parts);
  const whole = pcm.subarray(0, pcm.length - (pcm.length % frameBytes));
  if (whole.length < bytesPerSecond(f) / 100) {
    throw new AppError('CHIME_INVALID', `chime '${ref.name}' holds no audio (under 10 ms decoded)`);
  }
  const ms = pcmDurationMs(whole.length, f);
  if (ms > maxDurationMs + LENGTH_SLACK_MS) {
    throw new AppError(
      'CHIME_INVALID',
      `chime '${ref.name}' is longer than ${maxDurationMs / 1000} s (chimes.max_duration_s); shorten it`,
    );
  }
  return whole;
}

/** Creates a decoder that refuses chimes longer than `maxDurationMs`. */
export function createChimeDecoder(opts: { maxDurationMs: number }): ChimeDecoder {
  const decoded = new LRUCache<string, Buffer>({
    maxSize: CHIME_PCM_CACHE_BYTES,
    sizeCalculation: (b) => Math.max(1, b.length),
  });
  const failed = new Map<string, AppError>();
  const running = new Map<string, Promise<Buffer>>();

  function pcm(ref: ChimeRef, format: AudioFormat, signal: AbortSignal): Promise<Buffer> {
    const known = failed.get(ref.hash);
    if (known) return Promise.reject(known);
    const id = `${ref.hash}/${format.rateHz}/${format.channels}`;
    const hit = decoded.get(id);
    if (hit) return Promise.resolve(hit);
    let run = running.get(id);
    if (!run) {
      run = decodeChime(ref, format, opts.maxDurationMs).then(
        (buf) => {
          decoded.set(id, buf);
          return buf;
        },
        (err: unknown) => {
          // CHIME_INVALID is the file's fault until it changes; anything else (a timeout, a killed ffmpeg) is not.
          if (isAppError(err, 'CHIME_INVALID')) {
            if (failed.size >= MAX_FAILURES) failed.clear();
            failed.set(ref.hash, err);
          }
          throw toAppError(err, 'FFMPEG_FAILED');
        },
      );
      const done = run.finally(() => running.delete(id));
      done.catch(() => {});
      running.set(id, run);
    }
    return orAbort(run, signal);
  }

  return {
    pcm,
    async probe(ref, signal) {
      const buf = await pcm(ref, PROBE_FORMAT, signal);
      return { durationMs: Math.round(pcmDurationMs(buf.length, PROBE_FORMAT)) };
    },
  };
}
