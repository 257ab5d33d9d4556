/**
 * The audio cache on the share volume: files under `<dir>/<2 hex>/<key>.<ext>` with JSON sidecars, indexed in
 * an lru-cache; after each commit the least recently used entries are evicted (files deleted) until the index
 * is within the entry count and byte bounds. The index is rebuilt from disk at start, oldest-used first
 * (sidecar mtime, which `get` refreshes), so LRU order survives a restart. When the disk refuses writes (full,
 * over quota, read-only), new entries are held in memory and the store reports itself degraded until the disk
 * takes data again (memory-fallback.ts).
 *
 * Several hubs on one share volume (`shared`, issue 15): a miss looks on disk before it is a miss (another hub
 * may have made the file), a hit checks the file is still there (another hub may have evicted it), and the
 * index follows the other hubs' adds and removes through their logs (hub-log.ts), read before each commit and
 * every SYNC_MS, so eviction keeps the folder within the bounds give or take one entry per other hub (what
 * they commit between two reads). Two hubs writing the same key at once each rename a complete temp file into
 * place, so one valid file wins; neither waits for the other (no single-flight across hubs).
 */
import { stat, utimes } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import type { OutputFormat } from '../audio/format.js';
import { OUTPUT_FORMATS } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import type { CacheEntry } from './files.js';
import { checkKey, ioError, isSpaceError, mediaPath, sidecarPath, unlinkIfPresent } from './files.js';
import { createHubLog, type HubLog } from './hub-log.js';
import { isCacheKey } from './key.js';
import { type CacheDegradedState, createMemoryFallback, diskTakesData, entryId } from './memory-fallback.js';
import { readEntry, rebuild } from './rebuild.js';
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
  /**
   * The folder is shared with other hubs (a share group): this hub's id (its MQTT client id) names its log of
   * adds and removes. Absent: this hub is the folder's only user.
   */
  shared?: { hubId: string };
  log: Log;
}

/** How often the other hubs' logs are read besides before each commit, in ms. */
const SYNC_MS = 2000;
/** With other hubs: temp and unpaired files younger than this may be theirs, in progress; left alone at start. */
const SHARED_LEFTOVER_GRACE_MS = 15 * 60 * 1000;

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
  /**
   * Like `get`, for a request about to synthesize on a miss: on a shared folder it also checks that a hit's
   * file is still there and looks on disk before calling it a miss (another hub may have made or removed it).
   */
  lookup(key: string, format: OutputFormat): Promise<CacheEntry | undefined>;
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

  const hubLog: HubLog | undefined = opts.shared
    ? createHubLog({ cacheDir: opts.dir, hubId: opts.shared.hubId, log })
    : undefined;
  // No bound of its own: `evict()` applies the bounds after each commit (and to other hubs' adds only then).
  const index = new LRUCache<string, CacheEntry>({
    maxSize: Number.MAX_SAFE_INTEGER,
    sizeCalculation: (entry) => Math.max(1, entry.bytes),
    dispose: (entry, id, reason) => {
      // Only eviction deletes here; delete() and clear() delete files themselves and report errors.
      if (reason !== 'evict') return;
      track(removeFiles(entry.path, log));
      hubLog?.removed(id);
    },
  });
  const evict = (): void => {
    while (index.size && (index.size > opts.maxEntries || index.calculatedSize > opts.maxBytes)) index.pop();
  };

  /** Applies what the other hubs did since the last read. */
  let syncing: Promise<void> | undefined;
  const sync = (): Promise<void> => {
    syncing ??= (async () => {
      for (const event of (await hubLog?.read()) ?? []) {
        const dot = event.id.lastIndexOf('.');
        const key = event.id.slice(0, dot);
        const format = event.id.slice(dot + 1) as OutputFormat;
        if (!isCacheKey(key) || !OUTPUT_FORMATS.includes(format)) continue;
        if (event.kind === 'remove') index.delete(event.id);
        else if (event.kind === 'use') index.get(event.id);
        else if (!index.has(event.id)) {
          const found = await readEntry(mediaPath(opts.dir, key, format), key, format);
          if (found) index.set(event.id, found.entry);
        }
      }
    })().finally(() => {
      syncing = undefined;
    });
    return syncing;
  };

  const indexEntry = async (entry: CacheEntry): Promise<CacheEntry | undefined> => {
    const id = entryId(entry.key, entry.format);
    if (entry.bytes > opts.maxBytes) {
      log.warn(
        { key: entry.key, bytes: entry.bytes, maxBytes: opts.maxBytes },
        'entry larger than the cache',
      );
      await removeFiles(entry.path, log);
      return undefined;
    }
    // Learn the other hubs' adds first, so the eviction below counts them.
    await sync().catch((err) => log.warn({ err }, 'reading the other hubs’ cache logs failed'));
    index.set(id, entry);
    hubLog?.added(id);
    evict();
    await settle();
    await hubLog?.compactIfLarge(() => index.keys());
    return entry;
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
  let syncTimer: NodeJS.Timeout | undefined;
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
        await rebuild(opts.dir, index, log, hubLog ? SHARED_LEFTOVER_GRACE_MS : 0);
        evict();
        await hubLog?.start();
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
      if (hubLog) {
        syncTimer = setInterval(() => {
          sync().catch((err) => log.warn({ err }, 'reading the other hubs’ cache logs failed'));
        }, SYNC_MS);
        syncTimer.unref();
      }
    },
    async stop() {
      clearInterval(recheck);
      clearInterval(syncTimer);
      await syncing?.catch(() => {});
      await settle();
      await hubLog?.stop();
    },
    get(key, format) {
      const id = entryId(key, format);
      const entry = index.get(id);
      if (entry) {
        track(touch(entry.path, log));
        hubLog?.used(id);
      }
      return entry ?? memory.get(id);
    },
    async lookup(key, format) {
      const hit = this.get(key, format);
      if (!hubLog || hit?.data) return hit;
      const id = entryId(key, format);
      if (hit) {
        if (
          await stat(hit.path).then(
            () => true,
            () => false,
          )
        )
          return hit;
        index.delete(id); // another hub evicted it
      }
      if (!isCacheKey(key) || !OUTPUT_FORMATS.includes(format)) return undefined;
      const found = await readEntry(mediaPath(opts.dir, key, format), key, format);
      if (!found) return undefined;
      index.set(id, found.entry);
      return found.entry;
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
        hubLog?.removed(entryId(key, format));
      }
      return found;
    },
    async clear() {
      await sync().catch(() => {});
      const entries = [...index.entries()];
      index.clear();
      const inMemory = memory.clear();
      for (const [id, entry] of entries) {
        await removeFilesOrThrow(entry.path);
        hubLog?.removed(id);
      }
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
