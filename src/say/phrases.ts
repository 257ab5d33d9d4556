/**
 * The phrase cache: the raw PCM of single sentences an engine has spoken, kept in memory (LRU bounded by
 * bytes), so a new text that repeats a sentence (a fixed greeting before a changing part) reuses its audio
 * instead of asking the engine again. The key covers everything that changes the sound of a sentence:
 * engine, voice, speaker, language and the normalized sentence text. Gain and normalization are applied
 * after the cache, so the PCM here is what the engine produced.
 *
 * The PCM lives in one block store allocated once (pcm-blocks.ts), copied in on `set` and out on `get`, not in a
 * Buffer per sentence: V8 counts every new Buffer's memory that is still reachable towards its next full
 * (mark-compact) collection, so 16 MB of sentence Buffers that churn (each fresh sentence added, the oldest
 * dropped) brought a full collection of the whole heap about every 20 says (issue 13: measured about 2 ms of CPU
 * per espeak-ng miss). Each caller gets its own copy, so nobody holds memory the store reuses.
 */
import type { AudioFormat } from '../audio/format.js';
import { normalizeText } from '../cache/key.js';
import { createPcmBlocks, type StoredPcm } from './pcm-blocks.js';

/** Default memory bound of the phrase cache, in bytes (about 6 minutes of 22 kHz 16-bit mono speech). */
export const PHRASE_CACHE_BYTES = 16 * 1024 * 1024;
/** Sentences longer than this many bytes of PCM are not kept (they are unlikely to repeat). */
const MAX_PHRASE_BYTES = 2 * 1024 * 1024;

/** Who spoke a sentence and how: the parts of the phrase key besides the text. */
export interface PhraseVoice {
  engine: string;
  voice: string | undefined;
  speaker: string | undefined;
  language: string | undefined;
}

/** One cached sentence: its PCM and format. */
export interface Phrase {
  format: AudioFormat;
  pcm: Buffer;
}

/** Cached sentence audio (see the module comment). */
export interface PhraseCache {
  get(voice: PhraseVoice, sentence: string): Phrase | undefined;
  set(voice: PhraseVoice, sentence: string, phrase: Phrase): void;
  /** Entries and PCM bytes held. */
  stats(): { entries: number; bytes: number };
  clear(): void;
}

function phraseKey(v: PhraseVoice, sentence: string): string {
  return JSON.stringify([
    v.engine,
    v.voice ?? null,
    v.speaker ?? null,
    v.language ?? null,
    normalizeText(sentence),
  ]);
}

/** One cached sentence in the block store. */
interface StoredPhrase {
  format: AudioFormat;
  pcm: StoredPcm;
}

/**
 * Creates a phrase cache holding at most `maxBytes` of PCM (default PHRASE_CACHE_BYTES), least recently used
 * out first. `get` returns a copy the caller owns; `set` copies the PCM in.
 */
export function createPhraseCache(maxBytes = PHRASE_CACHE_BYTES): PhraseCache {
  const store = createPcmBlocks(Math.max(1, maxBytes));
  // A Map keeps insertion order: re-inserting on `get` makes its first key the least recently used.
  const entries = new Map<string, StoredPhrase>();
  let bytes = 0;
  const drop = (key: string, entry: StoredPhrase): void => {
    entries.delete(key);
    store.release(entry.pcm);
    bytes -= entry.pcm.length;
  };
  return {
    get(voice, sentence) {
      const key = phraseKey(voice, sentence);
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      entries.set(key, entry);
      return { format: entry.format, pcm: store.read(entry.pcm) };
    },
    set(voice, sentence, phrase) {
      const length = phrase.pcm.length;
      if (length === 0 || length > Math.min(MAX_PHRASE_BYTES, maxBytes)) return;
      const key = phraseKey(voice, sentence);
      const old = entries.get(key);
      if (old) drop(key, old);
      const fits = (): StoredPcm | undefined =>
        bytes + length <= maxBytes ? store.write(phrase.pcm) : undefined;
      let pcm = fits();
      for (const [oldest, entry] of entries) {
        if (pcm) break;
        drop(oldest, entry); // deleting the current key of a Map iteration is safe
        pcm = fits();
      }
      if (!pcm) return; // cannot happen: an empty store takes any phrase up to maxBytes
      entries.set(key, { format: phrase.format, pcm });
      bytes += length;
    },
    stats: () => ({ entries: entries.size, bytes }),
    clear() {
      for (const [key, entry] of entries) drop(key, entry);
    },
  };
}
