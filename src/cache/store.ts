/**
 * The audio cache on the share volume: files under `<dir>/<2 hex>/<key>.<ext>` with JSON sidecars, indexed in
 * an lru-cache bounded by entry count and total bytes. Evicting an entry deletes its files. The index is
 * rebuilt from disk at start, oldest-used first (sidecar mtime, which `get` refreshes), so LRU order survives
 * a restart. When the disk refuses writes (full, over quota, read-only), new entries are held in memory and the
 * store reports itself degraded until the disk takes data again (memory-fallback.ts).
 */
import { mkdir, readdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type { OutputFormat } from '../audio/format.js';
import { OUTPUT_FORMATS } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import {
  type CacheEntry,
  type CacheMeta,
  checkKey,
  ioError,
  isSpaceError,
  MEDIA_NAME,
  mediaPath,
  SHARD_NAME,
  SIDECAR_NAME,
  sidecarPath,
  TEMP_SUFFIX,
  unlinkIfPresent,
} from './files.js';
import { type CacheDegradedState, createMemoryFallback, diskTakesData, entryId } from './memory-fallback.js';
import { type CacheWriter, createCacheWriter } from './writer.js';

export type { CacheEntry, CacheMeta } from './files.js';
export type { CacheDegradedState } from './memory-fallback.js';
export type { CacheWriter, CommitInfo } from './writer.js';

/** Where the cache lives and its bounds: at most `maxEntries` files and `maxBytes` bytes of audio. */
export interface CacheStoreOptions {
  dir: string;
  maxEntries: number;
  maxBytes: number;
  /** Bytes of audio held in memory while the disk refuses writes (`cache.memory_mb`); 0 disables. Default 32 MiB. */
  memoryMaxBytes?: number;
  /** How often the disk is retried while degraded, in ms. Default 10 000. */
  recheckMs?: number;
  log: Log;
}

/** Entry count and total audio bytes in the index. */
export interface CacheStats {
  entries: number;
  bytes: number;
}

/** The disk cache (see the module comment). Call `start()` before anything else. */
export interface CacheStore {
  /** Creates the folder, deletes leftover temp files and orphans, and rebuilds the index. @throws AppError CACHE_IO. */
  start(): Promise<void>;
  /** Waits for pending evictions and LRU touches. */
  stop(): Promise<void>;
  /** The entry for `key` in `format`, marking it recently used; undefined on a miss or an invalid key. */
  get(key: string, format: OutputFormat): CacheEntry | undefined;
  /** True when the entry exists, without changing LRU order. */
  has(key: string, format: OutputFormat): boolean;
  /** Starts an atomic write. @throws AppError BAD_PAYLOAD for an invalid key or format. */
  beginWrite(key: string, format: OutputFormat): CacheWriter;
  /** Deletes every format of `key` from the index and the disk; true when something was indexed. */
  delete(key: string): Promise<boolean>;
  /** Deletes every entry; resolves to how many there were. */
  clear(): Promise<number>;
  /** Figures of the entries on disk. */
  stats(): CacheStats;
  /** The cache keys of every entry indexed on disk (each once, whatever its formats). */
  keys(): string[];
  /** Whether the disk refuses writes now, and what is held in memory meanwhile. */
  health(): CacheDegradedState;
  /** Called after the degraded state flips either way (status and discovery republish). */
  onHealthChange(listener: () => void): void;
}

/** Creates the cache store; no disk access until `start()`. */
export function createCacheStore(opts: CacheStoreOptions): CacheStore {
  const log = opts.log.child({ mod: 'cache' });
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const settle = async (): Promise<void> => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };

  const index = new LRUCache<string, CacheEntry>({
    max: Math.max(1, opts.maxEntries),
    maxSize: Math.max(1, opts.maxBytes),
    sizeCalculation: (entry) => Math.max(1, entry.bytes),
    dispose: (entry, _id, reason) => {
      // Only eviction deletes here; delete() and clear() delete files themselves and report errors.
      if (reason === 'evict') track(removeFiles(entry.path, log));
    },
  });

  const indexEntry = async (entry: CacheEntry): Promise<CacheEntry | undefined> => {
    const id = entryId(entry.key, entry.format);
    index.set(id, entry);
    await settle();
    if (index.has(id)) return entry;
    log.warn({ key: entry.key, bytes: entry.bytes, maxBytes: opts.maxBytes }, 'entry larger than the cache');
    await removeFiles(entry.path, log);
    return undefined;
  };

  const memoryMaxBytes = opts.memoryMaxBytes ?? 32 * 1024 * 1024;
  const memory = createMemoryFallback({ maxBytes: memoryMaxBytes, log });
  const diskWriter = (key: string, format: OutputFormat): CacheWriter =>
    createCacheWriter({
      dir: opts.dir,
      key,
      format,
      index: indexEntry,
      onDiskCommit: () => memory.diskOk(),
    });
  let recheck: NodeJS.Timeout | undefined;
  let rechecking = false;

  /** Moves memory entries to disk, oldest first; with none, probes the disk. Stops at the first space error. */
  const retryDisk = async (): Promise<void> => {
    const held = memory.entries();
    if (!held.length) {
      if (memory.state().degraded && (await diskTakesData(opts.dir))) memory.diskOk();
      return;
    }
    for (const [id, entry] of held) {
      if (!entry.data || index.has(id)) {
        memory.delete(id);
        continue;
      }
      const writer = diskWriter(entry.key, entry.format);
      try {
        await writer.write(entry.data);
        const { text, engine, voice } = entry.meta;
        await writer.commit({ text, engine, voice, durationMs: entry.durationMs });
        memory.delete(id);
      } catch (err) {
        await writer.abort().catch(() => {});
        if (isSpaceError(err)) return memory.spaceError(err);
        throw err;
      }
    }
  };

  return {
    async start() {
      try {
        await rebuild(opts.dir, index, log);
      } catch (err) {
        // A read-only or full share still lets the hub speak: from memory, degraded, until the disk takes data.
        if (!isSpaceError(err) || memoryMaxBytes <= 0) throw err;
        memory.spaceError(err);
      }
      await settle();
      log.info({ entries: index.size, bytes: index.calculatedSize }, 'cache index rebuilt');
      recheck = setInterval(() => {
        if (rechecking || (!memory.state().degraded && !memory.state().memory_entries)) return;
        rechecking = true;
        retryDisk()
          .catch((err) => log.warn({ err }, 'cache disk retry failed'))
          .finally(() => {
            rechecking = false;
          });
      }, opts.recheckMs ?? 10_000);
      recheck.unref();
    },
    async stop() {
      clearInterval(recheck);
      await settle();
    },
    get(key, format) {
      const id = entryId(key, format);
      const entry = index.get(id);
      if (entry) track(touch(entry.path, log));
      return entry ?? memory.get(id);
    },
    has: (key, format) => index.has(entryId(key, format)) || memory.has(entryId(key, format)),
    beginWrite(key, format) {
      checkKey(key, format);
      if (memoryMaxBytes <= 0) return createCacheWriter({ dir: opts.dir, key, format, index: indexEntry });
      return createCacheWriter({
        dir: opts.dir,
        key,
        format,
        index: indexEntry,
        keepInMemory: (entry) => memory.keep(entryId(key, format), entry),
        onSpaceError: (err) => memory.spaceError(err),
        onDiskCommit: () => memory.diskOk(),
      });
    },
    async delete(key) {
      let found = false;
      for (const format of OUTPUT_FORMATS) {
        checkKey(key, format);
        found = memory.delete(entryId(key, format)) || found;
        found = index.delete(entryId(key, format)) || found;
        await removeFilesOrThrow(mediaPath(opts.dir, key, format));
      }
      return found;
    },
    async clear() {
      const entries = [...index.values()];
      index.clear();
      const inMemory = memory.clear();
      for (const entry of entries) await removeFilesOrThrow(entry.path);
      return entries.length + inMemory;
    },
    stats: () => ({ entries: index.size, bytes: index.calculatedSize }),
    keys: () => [...new Set([...index.values()].map((e) => e.key))],
    health: () => memory.state(),
    onHealthChange: (listener) => memory.onChange(listener),
  };
}

async function removeFilesOrThrow(media: string): Promise<void> {
  try {
    await unlinkIfPresent(media);
    await unlinkIfPresent(sidecarPath(media));
  } catch (err) {
    throw ioError(err, 'delete', media);
  }
}

/** Deletes an entry's files, logging (never throwing) on failure: runs from the eviction callback. */
async function removeFiles(media: string, log: Log): Promise<void> {
  try {
    await removeFilesOrThrow(media);
  } catch (err) {
    log.warn({ err, path: media }, 'could not delete evicted cache file');
  }
}

/** Marks an entry used on disk (sidecar mtime) so the LRU order survives a restart. */
async function touch(media: string, log: Log): Promise<void> {
  const now = new Date();
  try {
    await utimes(sidecarPath(media), now, now);
  } catch (err) {
    log.debug({ err, path: media }, 'could not touch cache sidecar');
  }
}

interface Found {
  entry: CacheEntry;
  usedMs: number;
}

/** Sidecar reads in flight at once while the index is rebuilt at start. */
const REBUILD_PARALLEL_READS = 8;

/** Scans the shard folders, cleans leftovers and orphans, and fills `index` oldest-used first. */
async function rebuild(dir: string, index: LRUCache<string, CacheEntry>, log: Log): Promise<void> {
  const found: Found[] = [];
  try {
    await mkdir(dir, { recursive: true });
    for (const shard of await readdir(dir)) {
      if (SHARD_NAME.test(shard)) found.push(...(await scanShard(join(dir, shard), shard, log)));
    }
  } catch (err) {
    throw ioError(err, 'scan', dir);
  }
  found.sort((a, b) => a.usedMs - b.usedMs);
  for (const { entry } of found) index.set(entryId(entry.key, entry.format), entry);
}

/** One shard folder: removes temp files and unpaired files, returns the complete entries. */
async function scanShard(shardPath: string, shard: string, log: Log): Promise<Found[]> {
  const names = new Set(await readdir(shardPath));
  const found: Found[] = [];
  // Sidecars are read a few at a time: a start with thousands of entries on a slow card stays short without
  // flooding the disk queue.
  const limit = pLimit(REBUILD_PARALLEL_READS);
  const loads: Array<Promise<Found | undefined>> = [];
  for (const name of names) {
    const path = join(shardPath, name);
    if (name.endsWith(TEMP_SUFFIX)) {
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
      log.warn({ path }, 'removing unpaired cache file');
      await unlinkIfPresent(path);
      continue;
    }
    if (media) loads.push(limit(() => loadEntry(path, media[1]!, media[2] as OutputFormat, log)));
  }
  for (const entry of await Promise.all(loads)) if (entry) found.push(entry);
  return found;
}

/** Reads one media file's sidecar and sizes; a broken sidecar removes the entry. */
async function loadEntry(
  path: string,
  key: string,
  format: OutputFormat,
  log: Log,
): Promise<Found | undefined> {
  try {
    const meta = JSON.parse(await readFile(sidecarPath(path), 'utf8')) as CacheMeta;
    if (meta.key !== key || meta.format !== format) throw new Error('sidecar does not match its file');
    const [media, side] = await Promise.all([stat(path), stat(sidecarPath(path))]);
    const durationMs = typeof meta.duration_ms === 'number' ? meta.duration_ms : 0;
    return {
      entry: { key, format, path, bytes: media.size, durationMs, meta: { ...meta, bytes: media.size } },
      usedMs: side.mtimeMs,
    };
  } catch (err) {
    log.warn({ err, path }, 'removing cache entry with a broken sidecar');
    await unlinkIfPresent(path);
    await unlinkIfPresent(sidecarPath(path));
    return undefined;
  }
}
