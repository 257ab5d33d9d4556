/**
 * The phrase cache (say/phrases.ts) and its block store (say/pcm-blocks.ts): sentence PCM comes back byte for
 * byte, least recently used out first within the byte bound, and a caller's copy never changes afterwards.
 */
import { describe, expect, it } from 'vitest';
import { createPcmBlocks } from '../../src/say/pcm-blocks.js';
import { createPhraseCache, type PhraseVoice } from '../../src/say/phrases.js';

const voice: PhraseVoice = { engine: 'espeak', voice: 'en', speaker: undefined, language: undefined };
const format = { rateHz: 22050, widthBytes: 2, channels: 1 };
/** `bytes` of PCM whose content depends on `seed` and on the position. */
const pcmOf = (bytes: number, seed: number): Buffer => {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + seed * 13) & 0xff;
  return b;
};

describe('phrase cache', () => {
  it('gives back the PCM of each sentence, spread over several blocks, as a copy of its own', () => {
    const cache = createPhraseCache(1024 * 1024);
    const a = pcmOf(40_000, 1); // three 16 KiB blocks
    const b = pcmOf(17, 2);
    cache.set(voice, 'Good morning.', { format, pcm: a });
    cache.set(voice, 'Hello.', { format, pcm: b });
    const got = cache.get(voice, 'Good morning.');
    expect(got?.format).toEqual(format);
    expect(got?.pcm.equals(a)).toBe(true);
    expect(cache.get(voice, 'Hello.')?.pcm.equals(b)).toBe(true);
    expect(cache.stats()).toEqual({ entries: 2, bytes: 40_017 });
    // Overwriting the caller's buffers or the copy changes nothing stored.
    a.fill(0);
    got?.pcm.fill(1);
    expect(cache.get(voice, 'Good morning.')?.pcm.equals(pcmOf(40_000, 1))).toBe(true);
  });

  it('drops the least recently used sentences to stay within its byte bound, and reuses their memory', () => {
    const cache = createPhraseCache(100_000);
    cache.set(voice, 'One.', { format, pcm: pcmOf(40_000, 1) });
    cache.set(voice, 'Two.', { format, pcm: pcmOf(40_000, 2) });
    expect(cache.get(voice, 'One.')).toBeDefined(); // now Two. is the least recently used
    cache.set(voice, 'Three.', { format, pcm: pcmOf(40_000, 3) });
    expect(cache.get(voice, 'Two.')).toBeUndefined();
    expect(cache.get(voice, 'One.')?.pcm.equals(pcmOf(40_000, 1))).toBe(true);
    expect(cache.get(voice, 'Three.')?.pcm.equals(pcmOf(40_000, 3))).toBe(true);
    expect(cache.stats()).toEqual({ entries: 2, bytes: 80_000 });
    cache.set(voice, 'One.', { format, pcm: pcmOf(100, 9) }); // a new take replaces the old one
    expect(cache.get(voice, 'One.')?.pcm.equals(pcmOf(100, 9))).toBe(true);
    expect(cache.stats()).toEqual({ entries: 2, bytes: 40_100 });
    cache.clear();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0 });
    expect(cache.get(voice, 'Three.')).toBeUndefined();
  });

  it('keeps nothing empty or larger than its bound', () => {
    const cache = createPhraseCache(1000);
    cache.set(voice, 'Empty.', { format, pcm: Buffer.alloc(0) });
    cache.set(voice, 'Big.', { format, pcm: pcmOf(1001, 1) });
    cache.set(voice, 'Fits.', { format, pcm: pcmOf(1000, 2) });
    expect(cache.stats()).toEqual({ entries: 1, bytes: 1000 });
    expect(cache.get(voice, 'Fits.')?.pcm.equals(pcmOf(1000, 2))).toBe(true);
  });
});

describe('PCM block store', () => {
  it('refuses what does not fit in its free blocks, and takes it again once blocks are released', () => {
    const store = createPcmBlocks(4 * 100, 100);
    const a = store.write(pcmOf(250, 1)); // 3 blocks
    expect(a).toBeDefined();
    expect(store.write(pcmOf(150, 2))).toBeUndefined();
    expect(store.freeBlocks).toBe(1);
    store.release(a as NonNullable<typeof a>);
    const b = store.write(pcmOf(400, 3));
    expect(b && store.read(b).equals(pcmOf(400, 3))).toBe(true);
  });
});
