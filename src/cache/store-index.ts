/**
 * The cache store's index and its upkeep (store.ts is the public face): the lru-cache of entries, eviction to
 * the bounds after each commit, the other hubs' adds and removes read from their logs (shared folders), the
 * commit path every writer ends in, and moving entries held in memory back to disk once it takes data.
 * Everything works on one StoreState, built by `createStoreState`.
 */
import { LRUCache } from 'lru-cache';
import type { OutputFormat } from '../audio/format.js';
import { OUTPUT_FORMATS } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import type { CacheEntry } from './files.js';
import { ioError, isSpaceError, mediaPath, sidecarPath, unlinkIfPresent } from './files.js';
import { createHubLog, type HubLog } from './hub-log.js';
import { isCacheKey } from './key.js';
import { createMemoryFallback, diskTakesData, entryId, type MemoryFallback } from './memory-fallback.js';
import { readEntry } from './rebuild.js';
import type { CacheStoreOptions } from './store.js';
import { type CacheWriter, createCacheWriter } from './writer.js';

/** Default of `CacheStoreOptions.memoryMaxBytes`: 32 MiB. */
const DEFAULT_MEMORY_MAX_BYTES = 32 * 1024 * 1024;

/** What the store's functions share: options, the index, the other hubs' log, the memory fallback, pending work. */
export interface StoreState {
  opts: CacheStoreOptions;
  log: Log;
  /** Entries on disk by `entryId`; unbounded itself: `evict` applies the bounds. */
  index: LRUCache<string, CacheEntry>;
  /** This hub's log of adds and removes, and the reader of the others' (shared folders only). */
  hubLog: HubLog | undefined;
  /** Entries held in memory while the disk refuses writes. */
  memory: MemoryFallback;
  /** `opts.memoryMaxBytes` or its default; 0: no memory fallback. */
  memoryMaxBytes: number;
  /** File deletions and LRU touches not finished yet. */
  pending: Set<Promise<void>>;
  /** The read of the other hubs' logs in progress, if any. */
  syncing?: Promise<void>;
}

/** Builds the state of a store (no disk access). */
export function createStoreState(opts: CacheStoreOptions): StoreState {
  const log = opts.log.child({ mod: 'cache' });
  const hubLog = opts.shared
    ? createHubLog({ cacheDir: opts.dir, hubId: opts.shared.hubId, log })
    : undefined;
  const memoryMaxBytes = opts.memoryMaxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
  const st: StoreState = {
    opts,
    log,
    hubLog,
    memoryMaxBytes,
    memory: createMemoryFallback({ maxBytes: memoryMaxBytes, log }),
    pending: new Set(),
    // Replaced just below: the eviction callback needs the state.
    index: undefined as unknown as LRUCache<string, CacheEntry>,
  };
  // No bound of its own: `evict()` applies the bounds after each commit (and to other hubs' adds only then).
  st.index = new LRUCache<string, CacheEntry>({
    maxSize: Number.MAX_SAFE_INTEGER,
    sizeCalculation: (entry) => Math.max(1, entry.bytes),
    dispose: (entry, id, reason) => {
      // Only eviction deletes here; delete() and clear() delete files themselves and report errors.
      if (reason !== 'evict') return;
      track(st, removeFiles(entry.path, log));
      hubLog?.removed(id);
    },
  });
  return st;
}

/** Keeps `p` among the pending work until it settles. */
export function track(st: StoreState, p: Promise<void>): void {
  st.pending.add(p);
  void p.finally(() => st.pending.delete(p));
}

/** Waits until no deletion or touch is pending (including those started meanwhile). */
export async function settle(st: StoreState): Promise<void> {
  while (st.pending.size > 0) await Promise.allSettled([...st.pending]);
}

/** Drops least recently used entries (their files deleted by the dispose callback) until within the bounds. */
export function evict(st: StoreState): void {
  const { index, opts } = st;
  while (index.size && (index.size > opts.maxEntries || index.calculatedSize > opts.maxBytes)) index.pop();
}

/** Applies what the other hubs did since the last read; one read at a time (callers share it). */
export function sync(st: StoreState): Promise<void> {
  st.syncing ??= (async () => {
    for (const event of (await st.hubLog?.read()) ?? []) {
      const dot = event.id.lastIndexOf('.');
      const key = event.id.slice(0, dot);
      const format = event.id.slice(dot + 1) as OutputFormat;
      if (!isCacheKey(key) || !OUTPUT_FORMATS.includes(format)) continue;
      if (event.kind === 'remove') st.index.delete(event.id);
      else if (event.kind === 'use') st.index.get(event.id);
      else if (!st.index.has(event.id)) {
        const found = await readEntry(mediaPath(st.opts.dir, key, format), key, format);
        if (found) st.index.set(event.id, found.entry);
      }
    }
  })().finally(() => {
    st.syncing = undefined;
  });
  return st.syncing;
}

/**
 * The end of every commit: indexes a written entry, logs the add for the other hubs, and evicts to the bounds.
 * An entry larger than the whole cache is deleted instead; resolves to undefined then.
 */
export async function indexEntry(st: StoreState, entry: CacheEntry): Promise<CacheEntry | undefined> {
  const { opts, log, index, hubLog } = st;
  const id = entryId(entry.key, entry.format);
  if (entry.bytes > opts.maxBytes) {
    log.warn({ key: entry.key, bytes: entry.bytes, maxBytes: opts.maxBytes }, 'entry larger than the cache');
    await removeFiles(entry.path, log);
    return undefined;
  }
  // Learn the other hubs' adds first, so the eviction below counts them.
  await sync(st).catch((err) => log.warn({ err }, 'reading the other hubs’ cache logs failed'));
  index.set(id, entry);
  hubLog?.added(id);
  evict(st);
  await settle(st);
  await hubLog?.compactIfLarge(() => index.keys());
  return entry;
}

/** A writer straight to disk (no memory fallback), for moving held entries back. */
function diskWriter(st: StoreState, key: string, format: OutputFormat): CacheWriter {
  return createCacheWriter({
    dir: st.opts.dir,
    key,
    format,
    index: (entry) => indexEntry(st, entry),
    onDiskCommit: () => st.memory.diskOk(),
  });
}

/**
 * Moves memory entries to disk, oldest first; with none, probes the disk. Stops at the first space error.
 * @throws any other error of the disk (the caller logs it and retries later).
 */
export async function retryDisk(st: StoreState): Promise<void> {
  const { memory, index } = st;
  const held = memory.entries();
  if (!held.length) {
    if (memory.state().degraded && (await diskTakesData(st.opts.dir))) memory.diskOk();
    return;
  }
  for (const [id, entry] of held) {
    if (!entry.data || index.has(id)) {
      memory.delete(id);
      continue;
    }
    const writer = diskWriter(st, entry.key, entry.format);
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
}

/** Deletes an entry's media file and sidecar. @throws AppError CACHE_IO or DISK_FULL (files.ts ioError). */
export async function removeFilesOrThrow(media: string): Promise<void> {
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
