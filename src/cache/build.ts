/**
 * The cache area assembled from its options slice: the disk store on the share volume (`<share>/cache`, shared
 * by the hubs of a share group) and the capability keys of audio URLs (the secret persists in the data dir).
 */
import { join } from 'node:path';
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { type CacheStore, createCacheStore } from './store.js';
import { type AudioUrlKeys, createAudioUrlKeys, loadUrlSecret } from './url-keys.js';

/** The cache as the hub runs it. */
export interface CacheArea {
  readonly cache: CacheStore;
  readonly urlKeys: AudioUrlKeys;
  /** Loads the index; URLs handed out before a restart stay valid (the mapping is rebuilt from the keys). */
  readonly service: Service;
}

/** Builds the cache store and URL keys; `dataDir` holds the URL secret. */
export async function buildCache(options: Options, deps: { dataDir: string; log: Log }): Promise<CacheArea> {
  const { log } = deps;
  const urlKeys = createAudioUrlKeys({
    secret: await loadUrlSecret(deps.dataDir, log),
    maxRemembered: Math.max(4 * options.cache.max_entries, 10_000),
  });
  const cache = createCacheStore({
    dir: join(options.share_dir, 'cache'),
    maxEntries: options.cache.max_entries,
    maxBytes: options.cache.max_mb * 1024 * 1024,
    memoryMaxBytes: options.cache.memory_mb * 1024 * 1024,
    // Hubs of a share group use one cache folder: each follows the others' adds and removes.
    ...(options.mqtt.share_group ? { shared: { hubId: options.mqtt.client_id } } : {}),
    log,
  });
  return {
    cache,
    urlKeys,
    service: service('cache', {
      async start() {
        await cache.start();
        for (const key of cache.keys()) urlKeys.urlKey(key);
      },
    }),
  };
}
