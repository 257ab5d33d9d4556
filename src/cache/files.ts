/**
 * Cache file layout on the share volume and disk error translation.
 * `<dir>/<first 2 hex of key>/<key>.<ext>` with a JSON sidecar `<key>.<ext>.json`; temp files end in `.tmp`.
 * Paths are built only from validated keys and the fixed extension set, never from client input.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';
import { fsError } from '../shared/fs-errors.js';
import { isCacheKey } from './key.js';

/** The sidecar written next to each cached file (snake_case: it lives on the share volume for people to read). */
export interface CacheMeta {
  key: string;
  format: OutputFormat;
  text: string;
  engine: string;
  voice: string;
  duration_ms: number;
  bytes: number;
  /** ISO 8601 time of the commit. */
  created_at: string;
}

/**
 * One cached audio file: where it is, its size in bytes, its duration in ms, and its sidecar. An entry the disk
 * could not take (full, over quota, read-only: the cache is degraded) is held in memory instead: then `data`
 * holds its bytes and `path` is ''. Read entries with `audio/source.ts`, which handles both.
 */
export interface CacheEntry {
  key: string;
  format: OutputFormat;
  path: string;
  bytes: number;
  durationMs: number;
  meta: CacheMeta;
  /** The audio bytes of an entry held in memory only (cache degraded); absent for files on disk. */
  data?: Buffer;
}

/** Matches a media file `<key>.<ext>` (group 1 key, group 2 ext). */
export const MEDIA_NAME = /^([0-9a-f]{64})\.(opus|mp3|wav)$/;
/** Matches a sidecar `<key>.<ext>.json` (group 1 key, group 2 ext). */
export const SIDECAR_NAME = /^([0-9a-f]{64})\.(opus|mp3|wav)\.json$/;
/** Matches the shard folders `<2 hex>`. */
export const SHARD_NAME = /^[0-9a-f]{2}$/;
/** Temp files end with this suffix; anything with it at start-up is a leftover of a crash. */
export const TEMP_SUFFIX = '.tmp';

/** True when `format` is one of the fixed output formats. */
function isOutputFormat(format: unknown): format is OutputFormat {
  return typeof format === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(format);
}

/**
 * Validates a key and format for use in a path.
 * @throws AppError BAD_PAYLOAD for a malformed key or unknown format.
 */
export function checkKey(key: string, format: OutputFormat): void {
  if (!isCacheKey(key)) throw new AppError('BAD_PAYLOAD', `invalid cache key '${String(key).slice(0, 80)}'`);
  if (!isOutputFormat(format)) throw new AppError('BAD_PAYLOAD', `invalid cache format '${String(format)}'`);
}

/** The shard folder of a (validated) key. */
export function shardDir(dir: string, key: string): string {
  return join(dir, key.slice(0, 2));
}

/** The final path of a (validated) key and format. */
export function mediaPath(dir: string, key: string, format: OutputFormat): string {
  return join(shardDir(dir, key), `${key}.${format}`);
}

/** The sidecar path of a media path. */
export function sidecarPath(media: string): string {
  return `${media}.json`;
}

/**
 * Makes temp names unique between processes, also hubs in other containers sharing the folder (their pids may
 * be equal): drawn once, since drawing random bytes for each name cost more than the rest of its making.
 */
const PROCESS_TAG = randomBytes(4).toString('hex');
/** Temp names made by this process so far: unique within it. */
let tempSerial = 0;

/** A fresh temp path next to `final`, unique per writer (pid, a random tag drawn per process, a serial). */
export function tempPath(final: string): string {
  tempSerial++;
  return `${final}.${process.pid}-${PROCESS_TAG}-${tempSerial.toString(36)}${TEMP_SUFFIX}`;
}

/** errno codes that mean the disk cannot take more data now: full, over quota, or mounted read-only. */
export const SPACE_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/** True when `err` (or the cause of an AppError) is a disk-space or read-only error (SPACE_ERRNOS). */
export function isSpaceError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && SPACE_ERRNOS.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Translates a cache disk error (shared/fs-errors.ts): ENOSPC/EDQUOT → DISK_FULL, anything else → CACHE_IO,
 * keeping the cause.
 */
export function ioError(err: unknown, action: string, path: string): AppError {
  return fsError(err, action, path, {
    area: 'cache',
    fullHint: 'free space on the share volume or lower cache.max_mb',
  });
}

/** Deletes a file; a missing file is not an error. */
export async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
