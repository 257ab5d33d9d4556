/**
 * The audio of a say as targets see it (SayAudio): available from the moment synthesis starts (key, format
 * and URL, which streams live until the file exists), final once the cache entry is committed (path, bytes,
 * duration). Other formats are derived from the final file once and cached.
 */
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import type { Deriver } from '../cache/derive.js';
import type { CacheEntry, CacheStore } from '../cache/store.js';
import { AppError } from '../shared/errors.js';

/**
 * The audio a say produced, as handed to targets. Early (while `live`): `key`, `format` and `url` are known
 * and the URL streams the audio as it is encoded; `path` is '' and `bytes`/`durationMs` are 0 until the file
 * is committed. `ready()` resolves to the final audio (all fields set; the key may differ from the early one
 * when a fallback engine spoke, while the early URL keeps working).
 */
export interface SayAudio {
  readonly key: string;
  readonly format: OutputFormat;
  readonly url: string;
  /** The cached file; '' while live, and for audio held in memory (cache degraded). */
  readonly path: string;
  /** The bytes of audio held in memory only because the disk refused them (cache degraded). */
  readonly data?: Buffer;
  /** Duration in ms; 0 while live. */
  readonly durationMs: number;
  /** File size in bytes; 0 while live. */
  readonly bytes: number;
  /** True while synthesis still runs (the file does not exist yet). */
  readonly live: boolean;
  /**
   * The final audio once the cache entry exists; at once when it already does.
   * @throws the synthesis error when it failed; the abort reason when `signal` aborts first.
   */
  ready(signal: AbortSignal): Promise<SayAudio>;
  /**
   * The same speech in another format (for a target that wants mp3 or wav): waits for the final file, derives
   * the format from it once with ffmpeg and caches it; resolves to this object for its own format (at once,
   * even while live, so URL-based targets start playing during synthesis).
   * @throws AppError FFMPEG_FAILED, CACHE_IO, DISK_FULL; the synthesis error.
   */
  as(format: OutputFormat, signal: AbortSignal): Promise<SayAudio>;
}

/** Collaborators of SayAudio: the cache (for entries), the deriver and the URL builder. */
export interface SayAudioDeps {
  cache: CacheStore;
  deriver: Deriver;
  audioUrl(key: string, format: OutputFormat): string;
}

/** The final audio of a committed cache entry. `keyFor` gives the key of the same speech in another format. */
export function finalAudio(
  deps: SayAudioDeps,
  entry: CacheEntry,
  keyFor: (format: OutputFormat) => string,
): SayAudio {
  const audio: SayAudio = {
    key: entry.key,
    format: entry.format,
    url: deps.audioUrl(entry.key, entry.format),
    path: entry.path,
    ...(entry.data ? { data: entry.data } : {}),
    durationMs: entry.durationMs,
    bytes: entry.bytes,
    live: false,
    ready: async () => audio,
    async as(other, signal) {
      if (other === entry.format) return audio;
      const source = deps.cache.get(entry.key, entry.format) ?? entry;
      const derived = await deps.deriver.derive(source, keyFor(other), other, signal);
      return finalAudio(deps, derived, keyFor);
    },
  };
  return audio;
}

/**
 * The cached entry of a speech in `format`, or one derived (once, with ffmpeg) from the same speech cached in
 * another format; undefined when no format is cached. `keyFor` gives the speech's key in each format.
 * @throws AppError FFMPEG_FAILED, CACHE_IO, DISK_FULL from the derivation; the abort reason.
 */
export async function findCached(
  deps: SayAudioDeps,
  keyFor: (format: OutputFormat) => string,
  format: OutputFormat,
  signal: AbortSignal,
): Promise<CacheEntry | undefined> {
  const hit = await deps.cache.lookup(keyFor(format), format);
  if (hit) return hit;
  for (const other of OUTPUT_FORMATS.filter((f) => f !== format)) {
    const source = await deps.cache.lookup(keyFor(other), other);
    if (source) return deps.deriver.derive(source, keyFor(format), format, signal);
  }
  return undefined;
}

/** Waits for `promise` or the abort of `signal`, whichever comes first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new AppError('ABORTED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The early audio of a live synthesis under `key`; `final` settles when the cache entry exists or synthesis
 * failed. With `deriveLive`, `as(other)` while still live answers at once with audio that streams live in the
 * other format (live-derive.ts) instead of waiting for the file.
 */
export function liveAudio(
  deps: SayAudioDeps,
  key: string,
  format: OutputFormat,
  final: Promise<SayAudio>,
  deriveLive?: (other: OutputFormat) => SayAudio,
): SayAudio {
  let done: SayAudio | undefined;
  final.then(
    (a) => {
      done = a;
    },
    () => {},
  );
  return {
    key,
    format,
    url: deps.audioUrl(key, format),
    get path() {
      return done?.path ?? '';
    },
    get data() {
      return done?.data;
    },
    get durationMs() {
      return done?.durationMs ?? 0;
    },
    get bytes() {
      return done?.bytes ?? 0;
    },
    get live() {
      return done === undefined;
    },
    ready: (signal) => untilAborted(final, signal),
    async as(other, signal) {
      if (other === format) return this;
      if (done === undefined && deriveLive) return deriveLive(other);
      return (await untilAborted(final, signal)).as(other, signal);
    },
  };
}
