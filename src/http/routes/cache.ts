import type { FastifyPluginAsync } from 'fastify';
import { cacheHitRatio } from '../../cache/hit-ratio.js';
import type { CacheDegradedState, CacheStore } from '../../cache/store.js';
import type { SayService } from '../../say/service.js';

/**
 * Body of `GET /api/cache`. Sizes in bytes; `hit_ratio` is hits ÷ lookups since start (0 before any lookup);
 * `degraded` (with `degraded_since`, `degraded_reason`, `memory_entries`, `memory_bytes`) while the disk refuses
 * cache writes and new audio is held in memory.
 */
export interface CacheFigures extends CacheDegradedState {
  entries: number;
  bytes: number;
  max_entries: number;
  max_bytes: number;
  hit_ratio: number;
}

/** What the cache routes read: the store, its bounds (options `cache.max_entries`, `cache.max_mb`) and the counters. */
export interface CacheRouteOptions {
  cache: CacheStore;
  maxEntries: number;
  /** `cache.max_mb` in bytes. */
  maxBytes: number;
  sayService: SayService;
}

/** The cache figures now. */
export function cacheFigures(opts: CacheRouteOptions): CacheFigures {
  const { entries, bytes } = opts.cache.stats();
  return {
    entries,
    bytes,
    max_entries: opts.maxEntries,
    max_bytes: opts.maxBytes,
    hit_ratio: cacheHitRatio(opts.sayService.stats()),
    ...opts.cache.health(),
  };
}

/**
 * `GET /api/cache` → {@link CacheFigures}; `DELETE /api/cache` deletes every cached file and answers
 * `{cleared, ...CacheFigures}` (`cleared`: entries deleted). Audio being written right now is not affected.
 */
export const cacheRoutes: FastifyPluginAsync<CacheRouteOptions> = async (app, opts) => {
  app.get('/api/cache', async () => cacheFigures(opts));
  app.delete('/api/cache', async (request) => {
    const cleared = await opts.cache.clear();
    request.log.info({ cleared }, 'cache cleared');
    return { cleared, ...cacheFigures(opts) };
  });
};
