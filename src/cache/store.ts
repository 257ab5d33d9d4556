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
import type { OutputFormat } from '../audio/format.js';
import { OUTPUT_FORMATS } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import type { CacheEntry } from './files.js';
import { checkKey, isSpaceError, mediaPath, sidecarPath } from './files.js';
import { isCacheKey } from './key.js';
import { type CacheDegradedState, entryId } from './memory-fallback.js';
import { readEntry, rebuild } from './rebuild.js';
import {
  createStoreState,
  evict,
  indexEntry,
  removeFilesOrThrow,
  retryDisk,
  type StoreState,
  settle,
  sync,
  track,
} from './store-index.js';
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
  const st = createStoreState(opts);
  const { index, memory, hubLog } = st;
  const timers: StoreTimers = {};
  return {
    start: () => startStore(st, timers),
    async stop() {
      clearInterval(timers.recheck);
      clearInterval(timers.sync);
      await st.syncing?.catch(() => {});
      await settle(st);
      await hubLog?.stop();
    },
    get: (key, format) => getEntry(st, key, format),
    lookup: (key, format) => lookupEntry(st, key, format),
    has: (key, format) => index.has(entryId(key, format)) || memory.has(entryId(key, format)),
    beginWrite: (key, format) => beginWrite(st, key, format),
    delete: (key) => deleteKey(st, key),
    clear: () => clearAll(st),
    stats: () => ({ entries: index.size, bytes: index.calculatedSize }),
    keys: () => [...new Set([...index.values()].map((e) => e.key))],
    health: () => memory.state(),
    onHealthChange: (listener) => memory.onChange(listener),
  };
}

/** The store's background timers: the disk retry while degraded, and reading the other hubs' logs. */
interface StoreTimers {
  recheck?: NodeJS.Timeout;
  sync?: NodeJS.Timeout;
}

/** See CacheStore.start: rebuilds the index, then starts the disk retry and (shared) the log reads. */
async function startStore(st: StoreState, timers: StoreTimers): Promise<void> {
  const { opts, index, log, memory, hubLog } = st;
  try {
    await rebuild(opts.dir, index, log, hubLog ? SHARED_LEFTOVER_GRACE_MS : 0);
    evict(st);
    await hubLog?.start();
  } catch (err) {
    // A read-only or full share still lets the hub speak: from memory, degraded, until the disk takes data.
    if (!isSpaceError(err) || st.memoryMaxBytes <= 0) throw err;
    memory.spaceError(err);
  }
  await settle(st);
  log.info({ entries: index.size, bytes: index.calculatedSize }, 'cache index rebuilt');
  let rechecking = false;
  timers.recheck = setInterval(() => {
    if (rechecking || (!memory.state().degraded && !memory.state().memory_entries)) return;
    rechecking = true;
    retryDisk(st)
      .catch((err) => log.warn({ err }, 'cache disk retry failed'))
      .finally(() => {
        rechecking = false;
      });
  }, opts.recheckMs ?? 10_000);
  timers.recheck.unref();
  if (hubLog) {
    timers.sync = setInterval(() => {
      sync(st).catch((err) => log.warn({ err }, 'reading the other hubs’ cache logs failed'));
    }, SYNC_MS);
    timers.sync.unref();
  }
}

/** See CacheStore.get. */
function getEntry(st: StoreState, key: string, format: OutputFormat): CacheEntry | undefined {
  const id = entryId(key, format);
  const entry = st.index.get(id);
  if (entry) {
    track(st, touch(entry.path, st.log));
    st.hubLog?.used(id);
  }
  return entry ?? st.memory.get(id);
}

/** See CacheStore.lookup. */
async function lookupEntry(
  st: StoreState,
  key: string,
  format: OutputFormat,
): Promise<CacheEntry | undefined> {
  const hit = getEntry(st, key, format);
  if (!st.hubLog || hit?.data) return hit;
  const id = entryId(key, format);
  if (hit) {
    const present = await stat(hit.path).then(
      () => true,
      () => false,
    );
    if (present) return hit;
    st.index.delete(id); // another hub evicted it
  }
  if (!isCacheKey(key) || !OUTPUT_FORMATS.includes(format)) return undefined;
  const found = await readEntry(mediaPath(st.opts.dir, key, format), key, format);
  if (!found) return undefined;
  st.index.set(id, found.entry);
  return found.entry;
}

/** See CacheStore.beginWrite. */
function beginWrite(st: StoreState, key: string, format: OutputFormat): CacheWriter {
  checkKey(key, format);
  const { dir } = st.opts;
  const index = (entry: CacheEntry): Promise<CacheEntry | undefined> => indexEntry(st, entry);
  if (st.memoryMaxBytes <= 0) return createCacheWriter({ dir, key, format, index });
  return createCacheWriter({
    dir,
    key,
    format,
    index,
    keepInMemory: (entry) => st.memory.keep(entryId(key, format), entry),
    onSpaceError: (err) => st.memory.spaceError(err),
    onDiskCommit: () => st.memory.diskOk(),
  });
}

/** See CacheStore.delete. */
async function deleteKey(st: StoreState, key: string): Promise<boolean> {
  let found = false;
  for (const format of OUTPUT_FORMATS) {
    checkKey(key, format);
    found = st.memory.delete(entryId(key, format)) || found;
    found = st.index.delete(entryId(key, format)) || found;
    await removeFilesOrThrow(mediaPath(st.opts.dir, key, format));
    st.hubLog?.removed(entryId(key, format));
  }
  return found;
}

/** See CacheStore.clear. */
async function clearAll(st: StoreState): Promise<number> {
  await sync(st).catch(() => {});
  const entries = [...st.index.entries()];
  st.index.clear();
  const inMemory = st.memory.clear();
  for (const [id, entry] of entries) {
    await removeFilesOrThrow(entry.path);
    st.hubLog?.removed(id);
  }
  return entries.length + inMemory;
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
