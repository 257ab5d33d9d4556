/**
 * Rebuilding the cache index from the share volume at start: every complete entry (media file + sidecar) is
 * indexed, oldest-used first (sidecar mtime), and what a crash left (temp files, a media file without its
 * sidecar or the reverse, a broken sidecar) is removed. With several hubs on one share volume (`graceMs` > 0)
 * another hub may be writing right now: its temp files and the half-committed pair of a rename in progress are
 * left alone unless they are older than `graceMs`.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type { OutputFormat } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import {
  type CacheEntry,
  type CacheMeta,
  ioError,
  MEDIA_NAME,
  SHARD_NAME,
  SIDECAR_NAME,
  sidecarPath,
  TEMP_SUFFIX,
  unlinkIfPresent,
} from './files.js';
import { entryId } from './memory-fallback.js';

interface Found {
  entry: CacheEntry;
  usedMs: number;
}

/** Sidecar reads in flight at once while the index is rebuilt at start. */
const REBUILD_PARALLEL_READS = 8;

/**
 * Scans the shard folders, cleans leftovers and orphans (those older than `graceMs` only, when > 0), and fills
 * `index` oldest-used first. @throws AppError CACHE_IO or DISK_FULL.
 */
export async function rebuild(
  dir: string,
  index: LRUCache<string, CacheEntry>,
  log: Log,
  graceMs = 0,
): Promise<void> {
  const found: Found[] = [];
  try {
    await mkdir(dir, { recursive: true });
    for (const shard of await readdir(dir)) {
      if (SHARD_NAME.test(shard)) found.push(...(await scanShard(join(dir, shard), shard, log, graceMs)));
    }
  } catch (err) {
    throw ioError(err, 'scan', dir);
  }
  found.sort((a, b) => a.usedMs - b.usedMs);
  for (const { entry } of found) index.set(entryId(entry.key, entry.format), entry);
}

/** True when `path` was last written more than `graceMs` ago (always for 0; false when it is gone). */
async function stale(path: string, graceMs: number): Promise<boolean> {
  if (graceMs <= 0) return true;
  const s = await stat(path).catch(() => undefined);
  return s !== undefined && Date.now() - s.mtimeMs > graceMs;
}

/** One shard folder: removes temp files and unpaired files, returns the complete entries. */
async function scanShard(shardPath: string, shard: string, log: Log, graceMs: number): Promise<Found[]> {
  const names = new Set(await readdir(shardPath));
  const found: Found[] = [];
  // Sidecars are read a few at a time: a start with thousands of entries on a slow card stays short without
  // flooding the disk queue.
  const limit = pLimit(REBUILD_PARALLEL_READS);
  const loads: Array<Promise<Found | undefined>> = [];
  for (const name of names) {
    const path = join(shardPath, name);
    if (name.endsWith(TEMP_SUFFIX)) {
      if (!(await stale(path, graceMs))) continue;
      log.info({ path }, 'removing leftover cache temp file');
      await unlinkIfPresent(path);
      continue;
    }
    const media = MEDIA_NAME.exec(name);
    const side = SIDECAR_NAME.exec(name);
    const paired = media
      ? names.has(`${name}.json`)
      : side
        ? names.has(name.slice(0, -'.json'.length))
        : true;
    if (!paired || (media && !media[1]!.startsWith(shard))) {
      if (!(await stale(path, graceMs))) continue;
      log.warn({ path }, 'removing unpaired cache file');
      await unlinkIfPresent(path);
      continue;
    }
    if (media) loads.push(limit(() => loadEntry(path, media[1]!, media[2] as OutputFormat, log)));
  }
  for (const entry of await Promise.all(loads)) if (entry) found.push(entry);
  return found;
}

/**
 * Reads a complete entry from disk (its sidecar and sizes), as another hub committed it; undefined when the
 * media file or its sidecar is missing, unreadable or does not match. Nothing is removed.
 */
export async function readEntry(path: string, key: string, format: OutputFormat): Promise<Found | undefined> {
  try {
    const meta = JSON.parse(await readFile(sidecarPath(path), 'utf8')) as CacheMeta;
    if (meta.key !== key || meta.format !== format) return undefined;
    const [media, side] = await Promise.all([stat(path), stat(sidecarPath(path))]);
    const durationMs = typeof meta.duration_ms === 'number' ? meta.duration_ms : 0;
    return {
      entry: { key, format, path, bytes: media.size, durationMs, meta: { ...meta, bytes: media.size } },
      usedMs: side.mtimeMs,
    };
  } catch {
    return undefined;
  }
}

/** Reads one media file's sidecar and sizes; a broken sidecar removes the entry. */
async function loadEntry(
  path: string,
  key: string,
  format: OutputFormat,
  log: Log,
): Promise<Found | undefined> {
  const found = await readEntry(path, key, format);
  if (found) return found;
  log.warn({ path }, 'removing cache entry with a broken sidecar');
  await unlinkIfPresent(path);
  await unlinkIfPresent(sidecarPath(path));
  return undefined;
}
