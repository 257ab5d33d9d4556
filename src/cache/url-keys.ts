/**
 * Capability keys for audio URLs (DESIGN "Delivery and limits"): the key in `/api/audio/<key>.<ext>` is
 * HMAC-SHA256(per-install secret, cache key), never the cache key itself. The cache key is a plain SHA-256 of
 * the request (engine, voice, text…), so a LAN peer could compute it for a guessed phrase and ask whether it
 * was spoken; the URL key cannot be computed without the secret, and audio GETs need no token because of it.
 *
 * Mapping a URL key back: an HMAC cannot be inverted, so the hub remembers `url key → cache key` for every URL
 * it hands out (`urlKey()` registers it) and for every entry in its cache index at start (so URLs given out
 * before a restart keep working: the secret persists in `config.dataDir`). The map is bounded (LRU, refreshed
 * by every lookup). Files on the share stay named by the cache key, so hubs sharing one cache volume (issue 15)
 * find each other's entries; each hub serves such a hit under its own URL key, which it registers when it
 * builds the URL, whoever wrote the file.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';

/** File in `config.dataDir` holding the per-install secret (64 hex digits, mode 0600). */
export const URL_SECRET_FILE = 'audio-url-secret';

/** URL keys made lately, remembered by cache key so each is computed once while its say runs. */
const URL_KEYS_MEMO = 256;

/** URL keys ⇄ cache keys (see the module comment). */
export interface AudioUrlKeys {
  /** The URL key of `cacheKey` (64 lowercase hex digits), remembered so `cacheKeyOf` maps it back. */
  urlKey(cacheKey: string): string;
  /** The cache key a URL key stands for; undefined for keys this hub never handed out (or long forgotten). */
  cacheKeyOf(urlKey: string): string | undefined;
}

/**
 * Creates the mapping with `secret` (32 bytes or more), remembering at most `maxRemembered` keys.
 * @throws AppError INTERNAL for a secret shorter than 32 bytes.
 */
export function createAudioUrlKeys(opts: { secret: Buffer; maxRemembered: number }): AudioUrlKeys {
  if (opts.secret.length < 32) throw new AppError('INTERNAL', 'audio URL secret must have at least 32 bytes');
  const known = new LRUCache<string, string>({ max: Math.max(16, opts.maxRemembered) });
  // The other way, so a say that builds its URL several times (live, final, result) computes the HMAC once.
  const made = new LRUCache<string, string>({ max: URL_KEYS_MEMO });
  return {
    urlKey(cacheKey) {
      let key = made.get(cacheKey);
      if (key === undefined) {
        key = createHmac('sha256', opts.secret).update(cacheKey, 'utf8').digest('hex');
        made.set(cacheKey, key);
      }
      known.set(key, cacheKey);
      return key;
    },
    cacheKeyOf: (urlKey) => known.get(urlKey),
  };
}

/**
 * Reads the per-install secret from `<dataDir>/audio-url-secret`, creating it (32 random bytes, written to a
 * temp file, fsynced, renamed; mode 0600) on first start. A file that does not hold 64 hex digits is replaced
 * (URLs handed out before stop working) and that is logged.
 * @throws AppError CACHE_IO when the data dir cannot be written.
 */
export async function loadUrlSecret(dataDir: string, log: Log): Promise<Buffer> {
  const path = join(dataDir, URL_SECRET_FILE);
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  const hex = existing?.trim();
  if (hex !== undefined && /^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  if (existing !== undefined) log.warn({ path }, 'audio URL secret unreadable; making a new one');
  const secret = randomBytes(32);
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dataDir, { recursive: true });
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${secret.toString('hex')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw new AppError(
      'CACHE_IO',
      `cannot write the audio URL secret in ${dataDir}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return secret;
}
