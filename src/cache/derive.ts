import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { transcodeFile } from '../audio/encoder.js';
import type { OutputFormat } from '../audio/format.js';
import { transcodeToPipe } from '../audio/transcode-pipe.js';
import { AppError, timeoutSignal } from '../shared/errors.js';
import type { CacheEntry, CacheStore, CacheWriter } from './store.js';

/** ffmpeg's words for a write the disk refused (its stderr tail is in the FFMPEG_FAILED message). */
const FFMPEG_SPACE_ERROR = /No space left on device|Disk quota exceeded|Read-only file system/i;

/** Derives another format of a cached entry once, and caches it too. Concurrent asks for one key share one run. */
export interface Deriver {
  /**
   * Transcodes `source` (a cached file) to `format` and commits it under `key`.
   * Resolves to the cached entry (an existing one when already there). Concurrent callers share one run, which
   * no caller's abort cancels (it has its own DERIVE_TIMEOUT_MS limit); an aborting caller stops waiting.
   * @throws AppError FFMPEG_FAILED, CACHE_IO, DISK_FULL; the abort reason when `signal` aborts.
   */
  derive(source: CacheEntry, key: string, format: OutputFormat, signal: AbortSignal): Promise<CacheEntry>;
}

/** Longest a derivation (one ffmpeg transcode of a cached file) may take, in ms. */
export const DERIVE_TIMEOUT_MS = 60_000;

/** Resolves as `job` does, or rejects with the abort reason as soon as `signal` aborts (the job goes on). */
function waitUnlessAborted<T>(job: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    job.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What a derivation needs from the deriver's options. */
interface DeriveOpts {
  cache: CacheStore;
  bitrateKbps: number;
}

/** Transcodes `source` to `format` and commits it under `key` (an existing entry when already cached). */
async function run(
  opts: DeriveOpts,
  source: CacheEntry,
  key: string,
  format: OutputFormat,
  signal: AbortSignal,
): Promise<CacheEntry> {
  const existing = opts.cache.get(key, format);
  if (existing) return existing;
  let writer = opts.cache.beginWrite(key, format);
  try {
    if (source.data || opts.cache.health().degraded) {
      await viaPipe(opts, source, writer, format, signal);
    } else {
      try {
        await mkdir(dirname(writer.tempPath), { recursive: true });
        await transcodeFile(source.path, writer.tempPath, format, {
          bitrateKbps: opts.bitrateKbps,
          signal,
        });
      } catch (err) {
        // The disk filled up under ffmpeg: start over through a pipe, which the writer keeps in memory.
        if (!FFMPEG_SPACE_ERROR.test(err instanceof Error ? err.message : '')) throw err;
        await writer.abort();
        writer = opts.cache.beginWrite(key, format);
        await viaPipe(opts, source, writer, format, signal);
      }
    }
    const entry = await writer.commit({
      text: source.meta.text,
      engine: source.meta.engine,
      voice: source.meta.voice,
      durationMs: source.durationMs,
    });
    if (!entry)
      throw new AppError('CACHE_IO', 'the derived audio is larger than the whole cache; raise cache.max_mb');
    return entry;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Transcodes through pipes into `writer` (which holds the result in memory when the disk refuses it). */
async function viaPipe(
  opts: DeriveOpts,
  source: CacheEntry,
  writer: CacheWriter,
  format: OutputFormat,
  signal: AbortSignal,
): Promise<void> {
  for await (const buf of transcodeToPipe(source, format, { bitrateKbps: opts.bitrateKbps, signal })) {
    await writer.write(buf);
  }
}

/**
 * Builds the deriver over `cache`; `bitrateKbps` is the Opus/MP3 bitrate; `timeoutMs` the longest one derivation
 * may take (default DERIVE_TIMEOUT_MS), after which it fails with FFMPEG_FAILED.
 */
export function createDeriver(opts: { cache: CacheStore; bitrateKbps: number; timeoutMs?: number }): Deriver {
  const timeoutMs = opts.timeoutMs ?? DERIVE_TIMEOUT_MS;
  const running = new Map<string, Promise<CacheEntry>>();

  return {
    derive(source, key, format, signal) {
      const id = `${key}.${format}`;
      let job = running.get(id);
      if (!job) {
        // Shared by every caller, so no one caller's abort may cancel it; bounded by its own time limit.
        const limit = timeoutSignal(
          timeoutMs,
          () =>
            new AppError(
              'FFMPEG_FAILED',
              `deriving ${format} audio of cache entry ${key} took longer than ${timeoutMs / 1000} s`,
              { details: { key, format, timeout_ms: timeoutMs } },
            ),
        );
        job = run(opts, source, key, format, limit).finally(() => running.delete(id));
        job.catch(() => {});
        running.set(id, job);
      }
      return waitUnlessAborted(job, signal);
    },
  };
}
