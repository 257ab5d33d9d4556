/**
 * The cache's answer to a full disk: entries the disk refused (ENOSPC, EDQUOT, EROFS) are held in memory, in an
 * LRU bounded by bytes, so the announcement is still delivered and its URL still plays; the store is then
 * "degraded" until a write to the disk succeeds again. While degraded (or while memory holds entries) a timer
 * retries the disk: it moves memory entries to disk, or, with none, writes a small probe file; the first
 * success ends the degraded state, so the panel and the discovery binary sensor follow without traffic.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { OutputFormat } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import { type CacheEntry, isSpaceError, TEMP_SUFFIX, unlinkIfPresent } from './files.js';

/** The degraded state as status, health and the panel show it (snake_case: it goes out as JSON). */
export interface CacheDegradedState {
  /** True while the disk refuses cache writes. */
  degraded: boolean;
  /** ISO time the disk first refused a write in this episode; null when not degraded. */
  degraded_since: string | null;
  /** The disk's error (`ENOSPC: no space left on device, write`); null when not degraded. */
  degraded_reason: string | null;
  /** Entries held in memory only, and their bytes. */
  memory_entries: number;
  memory_bytes: number;
}

/** Bytes of the probe file written to test whether the disk takes data again. */
export const PROBE_BYTES = 64 * 1024;

/** The memory side of the cache (see the module comment). */
export interface MemoryFallback {
  get(id: string): CacheEntry | undefined;
  has(id: string): boolean;
  /** Holds `entry`; undefined when it is larger than the whole memory bound (then it is not kept). */
  keep(id: string, entry: CacheEntry): CacheEntry | undefined;
  delete(id: string): boolean;
  clear(): number;
  /** Entries held now, least recently used first. */
  entries(): Array<[string, CacheEntry]>;
  state(): CacheDegradedState;
  /** Marks the cache degraded (the first error of an episode is logged). */
  spaceError(err: unknown): void;
  /** Leaves the degraded state after a successful disk write. */
  diskOk(): void;
  /** Called after the degraded state flips either way. */
  onChange(listener: () => void): void;
}

/** Creates the memory side, bounded by `maxBytes` of audio. */
export function createMemoryFallback(opts: { maxBytes: number; log: Log }): MemoryFallback {
  const { log } = opts;
  const memory = new LRUCache<string, CacheEntry>({
    max: 10_000,
    maxSize: Math.max(1, opts.maxBytes),
    sizeCalculation: (e) => Math.max(1, e.bytes),
  });
  let since: Date | undefined;
  let reason: string | undefined;
  const listeners: Array<() => void> = [];
  const changed = (): void => {
    for (const l of listeners) {
      try {
        l();
      } catch (err) {
        log.warn({ err }, 'cache state listener failed');
      }
    }
  };
  return {
    get: (id) => memory.get(id),
    has: (id) => memory.has(id),
    keep(id, entry) {
      memory.set(id, entry);
      if (memory.has(id)) return entry;
      log.warn(
        { key: entry.key, bytes: entry.bytes, maxBytes: opts.maxBytes },
        'audio larger than the memory cache',
      );
      return undefined;
    },
    delete: (id) => memory.delete(id),
    clear() {
      const n = memory.size;
      memory.clear();
      return n;
    },
    entries: () => [...memory.rentries()] as Array<[string, CacheEntry]>,
    state: () => ({
      degraded: since !== undefined,
      degraded_since: since?.toISOString() ?? null,
      degraded_reason: reason ?? null,
      memory_entries: memory.size,
      memory_bytes: memory.calculatedSize,
    }),
    spaceError(err) {
      if (since) return;
      since = new Date();
      reason = err instanceof Error ? err.message : String(err);
      log.warn({ err: reason }, 'cache degraded: the disk refuses writes; audio is kept in memory');
      changed();
    },
    diskOk() {
      if (!since) return;
      log.info({ since: since.toISOString() }, 'cache writes resumed');
      since = undefined;
      reason = undefined;
      changed();
    },
    onChange(listener) {
      listeners.push(listener);
    },
  };
}

/**
 * Writes and deletes a probe file of PROBE_BYTES in `dir` (fsynced). Resolves true when the disk took it,
 * false on a space error.
 * @throws other disk errors.
 */
export async function diskTakesData(dir: string): Promise<boolean> {
  const path = join(dir, `.space-probe${TEMP_SUFFIX}`);
  try {
    const fh = await open(path, 'w');
    try {
      await fh.write(Buffer.alloc(PROBE_BYTES));
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if (isSpaceError(err)) return false;
    throw err;
  } finally {
    await unlinkIfPresent(path).catch(() => {});
  }
}

/** `<key>.<format>`, the id entries are indexed by. */
export function entryId(key: string, format: OutputFormat): string {
  return `${key}.${format}`;
}
