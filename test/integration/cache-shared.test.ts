/**
 * One cache folder, several hubs (issue 15): two (or three) stores with `shared` on one real folder, as two
 * hubs on one share volume use it. A miss looks on disk first, each index follows the others' adds and
 * removes, eviction keeps the folder within the bound give or take one entry per other hub, two writers of one
 * key leave one valid file, and a start never deletes another hub's write in progress.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { type CacheStore, createCacheStore } from '../../src/cache/store.js';
import { silentLog } from '../../src/shared/log.js';

let dir = '';
const stores: CacheStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cache-shared-'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(hubId: string, maxEntries = 100): Promise<CacheStore> {
  const store = createCacheStore({
    dir,
    maxEntries,
    maxBytes: 10_000_000,
    shared: { hubId },
    log: silentLog(),
  });
  stores.push(store);
  await store.start();
  return store;
}

const key = (text: string) => cacheKey({ engine: 'espeak', voice: 'en', format: 'opus', text });

async function put(store: CacheStore, text: string, fill = 1, bytes = 100) {
  const writer = store.beginWrite(key(text), 'opus');
  await writer.write(Buffer.alloc(bytes, fill));
  return writer.commit({ text, engine: 'espeak', voice: 'en', durationMs: 100 });
}

/** Media files (audio, not sidecars or temp files) in the folder. */
async function mediaFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await readdir(dir)) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of await readdir(join(dir, shard))) if (name.endsWith('.opus')) out.push(name);
  }
  return out;
}

describe('cache folder shared by several hubs', () => {
  it("a miss looks on disk first: another hub's entry is found and indexed", async () => {
    const a = await open('hub_a');
    const b = await open('hub_b');
    await put(a, 'made by a');
    expect(b.get(key('made by a'), 'opus')).toBeUndefined(); // not in b's index yet
    const found = await b.lookup(key('made by a'), 'opus');
    expect(found?.bytes).toBe(100);
    expect(b.has(key('made by a'), 'opus')).toBe(true);
  });

  it("a hit whose file another hub removed is a miss, and b's index follows a's removes", async () => {
    const a = await open('hub_a');
    const b = await open('hub_b');
    await put(a, 'short-lived');
    expect(await b.lookup(key('short-lived'), 'opus')).toBeDefined();
    await a.delete(key('short-lived'));
    expect(await b.lookup(key('short-lived'), 'opus')).toBeUndefined();
    expect(b.stats().entries).toBe(0);
    // Through the log: a's adds appear in b's figures without a lookup.
    await put(a, 'one');
    await put(a, 'two');
    await put(b, 'three'); // b reads the other logs before it commits
    expect(b.stats().entries).toBe(3);
  });

  it('eviction keeps the folder within the bound give or take one entry per other hub, writers racing', async () => {
    const max = 10;
    const hubs = [await open('hub_a', max), await open('hub_b', max), await open('hub_c', max)];
    let worst = 0;
    for (let round = 0; round < 15; round++) {
      await Promise.all(hubs.map((h, i) => put(h, `round ${round} hub ${i}`)));
      worst = Math.max(worst, (await mediaFiles()).length);
    }
    expect(worst).toBeGreaterThanOrEqual(max);
    expect(worst).toBeLessThanOrEqual(max + hubs.length - 1);
  });

  it('two hubs writing the same key at once leave one valid file and sidecar, no temp files', async () => {
    const a = await open('hub_a');
    const b = await open('hub_b');
    const k = key('same text');
    const wa = a.beginWrite(k, 'opus');
    const wb = b.beginWrite(k, 'opus');
    await Promise.all([wa.write(Buffer.alloc(3000, 0xaa)), wb.write(Buffer.alloc(2000, 0xbb))]);
    await Promise.all([
      wa.commit({ text: 'same text', engine: 'espeak', voice: 'en', durationMs: 300 }),
      wb.commit({ text: 'same text', engine: 'espeak', voice: 'en', durationMs: 200 }),
    ]);
    const shard = join(dir, k.slice(0, 2));
    expect((await readdir(shard)).sort()).toEqual([`${k}.opus`, `${k}.opus.json`]);
    const media = await readFile(join(shard, `${k}.opus`));
    // One writer's bytes whole, never a mix.
    expect([Buffer.alloc(3000, 0xaa), Buffer.alloc(2000, 0xbb)].some((x) => x.equals(media))).toBe(true);
    expect(JSON.parse(await readFile(join(shard, `${k}.opus.json`), 'utf8'))).toMatchObject({ key: k });
    expect((await open('hub_c')).get(k, 'opus')?.bytes).toBe(media.length);
  });

  it("a starting hub leaves another hub's fresh temp and half-committed files alone", async () => {
    const a = await open('hub_a');
    const k = key('in progress');
    const writer = a.beginWrite(k, 'opus');
    await writer.write(Buffer.alloc(500, 1));
    const half = key('half committed');
    await mkdir(join(dir, half.slice(0, 2)), { recursive: true });
    await writeFile(join(dir, half.slice(0, 2), `${half}.opus.json`), '{}'); // sidecar renamed, audio next
    await open('hub_b');
    expect(await readdir(join(dir, half.slice(0, 2)))).toContain(`${half}.opus.json`);
    const entry = await writer.commit({ text: 'in progress', engine: 'espeak', voice: 'en', durationMs: 50 });
    expect(entry?.bytes).toBe(500);
  });
});
