/**
 * The phrase cache: the raw PCM of single sentences an engine has spoken, kept in memory (LRU bounded by
 * bytes), so a new text that repeats a sentence (a fixed greeting before a changing part) reuses its audio
 * instead of asking the engine again. The key covers everything that changes the sound of a sentence:
 * engine, voice, speaker, language and the normalized sentence text. Gain and normalization are applied
 * after the cache, so the PCM here is what the engine produced.
 */
import { LRUCache } from 'lru-cache';
import type { AudioFormat } from '../audio/format.js';
import { normalizeText } from '../cache/key.js';

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

/** Creates a phrase cache holding at most `maxBytes` of PCM (default PHRASE_CACHE_BYTES). */
export function createPhraseCache(maxBytes = PHRASE_CACHE_BYTES): PhraseCache {
  const lru = new LRUCache<string, Phrase>({
    maxSize: Math.max(1, maxBytes),
    sizeCalculation: (p) => Math.max(1, p.pcm.length),
  });
  return {
    get: (voice, sentence) => lru.get(phraseKey(voice, sentence)),
    set(voice, sentence, phrase) {
      if (phrase.pcm.length === 0 || phrase.pcm.length > Math.min(MAX_PHRASE_BYTES, maxBytes)) return;
      lru.set(phraseKey(voice, sentence), phrase);
    },
    stats: () => ({ entries: lru.size, bytes: lru.calculatedSize }),
    clear: () => lru.clear(),
  };
}
