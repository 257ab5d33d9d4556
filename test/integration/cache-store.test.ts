import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFormat } from '../../src/audio/format.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from '../../src/audio/wav.js';
import { cacheKey } from '../../src/cache/key.js';
import { type CacheStore, createCacheStore } from '../../src/cache/store.js';
import { FLUSH_AFTER_MS } from '../../src/cache/writer.js';
import { isAppError } from '../../src/shared/errors.js';
import { silentLog } from '../../src/shared/log.js';

let dir = '';
const stores: CacheStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cache-test-'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(maxEntries = 100, maxBytes = 1_000_000): Promise<CacheStore> {
  const store = createCacheStore({ dir, maxEntries, maxBytes, log: silentLog() });
  stores.push(store);
  await store.start();
  return store;
}

function key(text: string, format: OutputFormat = 'opus'): string {
  return cacheKey({ engine: 'espeak', voice: 'en', format, text });
}

async function put(store: CacheStore, text: string, bytes = 100, format: OutputFormat = 'opus') {
  const writer = store.beginWrite(key(text, format), format);
  await writer.write(Buffer.alloc(bytes / 2, 1));
  await writer.write(Buffer.alloc(bytes - bytes / 2, 2));
  return writer.commit({ text, engine: 'espeak', voice: 'en', durationMs: 1234.4 });
}

/** Every file under the cache dir, relative. */
async function files(): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await readdir(dir)) {
    for (const name of await readdir(join(dir, shard))) out.push(`${shard}/${name}`);
  }
  return out.sort();
}

describe('cache store', () => {
  it('commits atomically: nothing visible until commit, then the file and its sidecar', async () => {
    const store = await open();
    const k = key('hello');
    const writer = store.beginWrite(k, 'opus');
    await writer.write(Buffer.from('OggS partial'));
    expect(store.get(k, 'opus')).toBeUndefined();
    expect(await files()).toEqual([]); // a short write is held until commit (one writev, issue 13)
    const entry = await writer.commit({ text: 'hello', engine: 'espeak', voice: 'en', durationMs: 500 });
    expect(entry?.path).toBe(join(dir, k.slice(0, 2), `${k}.opus`));
    expect(await files()).toEqual([`${k.slice(0, 2)}/${k}.opus`, `${k.slice(0, 2)}/${k}.opus.json`]);
    expect(await readFile(entry!.path, 'utf8')).toBe('OggS partial');
    const meta = JSON.parse(await readFile(`${entry!.path}.json`, 'utf8'));
    expect(meta).toMatchObject({
      key: k,
      format: 'opus',
      text: 'hello',
      engine: 'espeak',
      voice: 'en',
      bytes: 12,
    });
    expect(meta.duration_ms).toBe(500);
    expect(Date.parse(meta.created_at)).not.toBeNaN();
    expect(store.get(k, 'opus')).toMatchObject({ bytes: 12, durationMs: 500 });
    expect(store.stats()).toEqual({ entries: 1, bytes: 12 });
  });

  it('abort (a failed synthesis) leaves no entry and no file', async () => {
    const store = await open();
    const writer = store.beginWrite(key('broken'), 'opus');
    await writer.write(Buffer.alloc(1000));
    await writer.abort();
    await writer.abort();
    expect(store.has(key('broken'), 'opus')).toBe(false);
    expect(await files()).toEqual([]);
    await expect(writer.commit({ text: 'x', engine: 'e', voice: 'v', durationMs: 1 })).rejects.toThrow(
      /already ended/,
    );
  });

  it('refuses to commit an empty file and leaves nothing', async () => {
    const store = await open();
    const writer = store.beginWrite(key('empty'), 'opus');
    const err = await writer
      .commit({ text: 'x', engine: 'e', voice: 'v', durationMs: 0 })
      .catch((e: unknown) => e);
    expect(isAppError(err, 'CACHE_IO')).toBe(true);
    expect(store.stats().entries).toBe(0);
    expect(await files()).toEqual([]);
  });

  it('evicts the least recently used entry by count and deletes its files', async () => {
    const store = await open(2);
    await put(store, 'a');
    await put(store, 'b');
    expect(store.get(key('a'), 'opus')).toBeDefined(); // a is now more recent than b
    await put(store, 'c');
    expect(store.has(key('b'), 'opus')).toBe(false);
    expect(store.has(key('a'), 'opus')).toBe(true);
    const names = await files();
    expect(names.some((n) => n.includes(key('b')))).toBe(false);
    expect(names).toHaveLength(4);
  });

  it('evicts by total bytes and deletes the files', async () => {
    const store = await open(100, 250);
    await put(store, 'a', 100);
    await put(store, 'b', 100);
    await put(store, 'c', 100);
    expect(store.stats()).toEqual({ entries: 2, bytes: 200 });
    expect((await files()).some((n) => n.includes(key('a')))).toBe(false);
  });

  it('does not keep an entry larger than the whole cache', async () => {
    const store = await open(100, 50);
    expect(await put(store, 'huge', 100)).toBeUndefined();
    expect(await files()).toEqual([]);
  });

  it('rebuilds from disk after a restart, keeping entries and LRU order', async () => {
    const first = await open(3);
    await put(first, 'a');
    await put(first, 'b');
    await put(first, 'c');
    expect(first.get(key('a'), 'opus')).toBeDefined(); // order now b, c, a
    await first.stop();
    const second = await open(3);
    expect(second.stats()).toEqual({ entries: 3, bytes: 300 });
    expect(second.get(key('c'), 'opus')).toMatchObject({ durationMs: 1234, meta: { text: 'c' } });
    await put(second, 'd'); // evicts b, the least recently used before the restart
    expect(second.has(key('b'), 'opus')).toBe(false);
    expect(second.has(key('a'), 'opus')).toBe(true);
    expect(second.has(key('c'), 'opus')).toBe(true);
  });

  it('rebuild trims to smaller bounds, deleting the oldest files', async () => {
    const first = await open(5);
    for (const t of ['a', 'b', 'c']) await put(first, t);
    await first.stop();
    const second = await open(1);
    expect(second.stats().entries).toBe(1);
    expect(second.has(key('c'), 'opus')).toBe(true);
    expect(await files()).toHaveLength(2);
  });

  it('start removes temp leftovers, unpaired files and broken sidecars', async () => {
    const store = await open();
    await put(store, 'kept');
    const k = key('crashed');
    const shard = join(dir, k.slice(0, 2));
    await mkdir(shard, { recursive: true });
    await writeFile(join(shard, `${k}.opus.123-abcd.tmp`), 'partial');
    await writeFile(join(shard, `${k}.mp3`), 'media without a sidecar');
    await writeFile(join(shard, `${k}.wav.json`), '{"note":"sidecar without media"}');
    const broken = key('broken');
    await mkdir(join(dir, broken.slice(0, 2)), { recursive: true });
    await writeFile(join(dir, broken.slice(0, 2), `${broken}.opus`), 'x');
    await writeFile(join(dir, broken.slice(0, 2), `${broken}.opus.json`), '{not json');
    await store.stop();
    const again = await open();
    expect(again.stats().entries).toBe(1);
    const k2 = key('kept');
    expect(await files()).toEqual([`${k2.slice(0, 2)}/${k2}.opus`, `${k2.slice(0, 2)}/${k2}.opus.json`]);
  });

  it('rejects malformed keys and formats; no path is built from them', async () => {
    const store = await open();
    for (const [k, f] of [
      ['../../etc/passwd', 'opus'],
      [key('x').toUpperCase(), 'opus'],
      [key('x'), 'exe'],
      [key('x'), '../opus'],
    ]) {
      let err: unknown;
      try {
        store.beginWrite(k!, f as OutputFormat);
      } catch (e) {
        err = e;
      }
      expect(isAppError(err, 'BAD_PAYLOAD')).toBe(true);
    }
    expect(store.get('../../etc/passwd', 'opus')).toBeUndefined();
    await expect(store.delete('../x')).rejects.toThrow(/invalid cache key/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes held bytes to the temp file once FLUSH_BYTES are held, in order, and commits them all', async () => {
    const store = await open(100, 10_000_000);
    const k = key('long');
    const writer = store.beginWrite(k, 'opus');
    const pages = Array.from({ length: 40 }, (_, i) => Buffer.alloc(2000, i));
    for (const page of pages.slice(0, 32)) await writer.write(page); // 64 000 bytes: still held
    expect(await files()).toEqual([]);
    for (const page of pages.slice(32)) await writer.write(page); // past FLUSH_BYTES (65 536)
    const [temp] = await files();
    expect(temp).toMatch(/\.tmp$/);
    expect(await readFile(join(dir, temp as string))).toEqual(Buffer.concat(pages.slice(0, 33)));
    const entry = await writer.commit({ text: 'long', engine: 'e', voice: 'v', durationMs: 4000 });
    expect(await readFile(entry!.path)).toEqual(Buffer.concat(pages));
    expect(await files()).toEqual([`${k.slice(0, 2)}/${k}.opus`, `${k.slice(0, 2)}/${k}.opus.json`]);
  });

  it('writes held bytes that waited FLUSH_AFTER_MS with the next write', async () => {
    const store = await open();
    const writer = store.beginWrite(key('slow'), 'opus');
    await writer.write(Buffer.from('first page '));
    await new Promise((r) => setTimeout(r, FLUSH_AFTER_MS + 50));
    expect(await files()).toEqual([]);
    await writer.write(Buffer.from('second page'));
    const [temp] = await files();
    expect(await readFile(join(dir, temp as string), 'utf8')).toBe('first page second page');
    await writer.abort();
    expect(await files()).toEqual([]);
  });

  it('patches the streamed WAV header to the real sizes on commit', async () => {
    const store = await open();
    const writer = store.beginWrite(key('wav', 'wav'), 'wav');
    await writer.write(wavHeader({ rateHz: 16000, widthBytes: 2, channels: 1 }, WAV_UNKNOWN_DATA_BYTES));
    await writer.write(Buffer.alloc(3200));
    const entry = await writer.commit({ text: 'wav', engine: 'e', voice: 'v', durationMs: 100 });
    const bytes = await readFile(entry!.path);
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    expect(bytes.readUInt32LE(40)).toBe(3200);
  });

  it('a tool may write the temp path directly before commit (transcodeFile flow)', async () => {
    const store = await open();
    const writer = store.beginWrite(key('derived', 'mp3'), 'mp3');
    await mkdir(join(dir, key('derived', 'mp3').slice(0, 2)), { recursive: true });
    await writeFile(writer.tempPath, Buffer.alloc(777));
    const entry = await writer.commit({ text: 'derived', engine: 'e', voice: 'v', durationMs: 1 });
    expect((await stat(entry!.path)).size).toBe(777);
  });

  it('delete and clear remove files and index entries', async () => {
    const store = await open();
    await put(store, 'a');
    await put(store, 'b');
    await put(store, 'c');
    expect(await store.delete(key('a'))).toBe(true);
    expect(await store.delete(key('a'))).toBe(false);
    expect(store.stats().entries).toBe(2);
    expect(await store.clear()).toBe(2);
    expect(store.stats()).toEqual({ entries: 0, bytes: 0 });
    expect(await files()).toEqual([]);
  });
});
