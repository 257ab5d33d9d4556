import type { Voice } from '../engine.js';

/**
 * Voice-list helpers shared by the engines: a cached loader and language matching.
 */

/** A voice list loaded on first use and kept; a failed load is not kept, so the next call retries. */
export interface VoiceCache {
  /** The cached list, loading it if needed. */
  get(signal?: AbortSignal): Promise<Voice[]>;
  /** Loads the list again (e.g. when a requested voice is missing: it may have been added since). */
  refresh(signal?: AbortSignal): Promise<Voice[]>;
}

/** Creates a {@link VoiceCache} over `load`. */
export function createVoiceCache(load: (signal?: AbortSignal) => Promise<Voice[]>): VoiceCache {
  let current: Promise<Voice[]> | undefined;
  const refresh = (signal?: AbortSignal): Promise<Voice[]> => {
    const loading = load(signal);
    current = loading;
    loading.catch(() => {
      if (current === loading) current = undefined;
    });
    return loading;
  };
  return { get: (signal) => current ?? refresh(signal), refresh };
}

/** Lower-case language tag with `-` (`en_US` → `en-us`). */
export function normalizeLanguage(tag: string): string {
  return tag.trim().toLowerCase().replaceAll('_', '-');
}

/**
 * The first voice speaking `language`: an exact tag match on `Voice.languages` (normalized), else a voice
 * whose language has the same primary subtag (`de-AT` finds `de_DE`). Undefined when none fits.
 */
export function voiceForLanguage(voices: readonly Voice[], language: string): Voice | undefined {
  const tag = normalizeLanguage(language);
  const primary = tag.split('-')[0];
  const langs = (v: Voice) => v.languages.map(normalizeLanguage);
  return (
    voices.find((v) => langs(v).includes(tag)) ??
    voices.find((v) => langs(v).some((l) => l.split('-')[0] === primary))
  );
}

/**
 * Finds `name` in the cache, reloading once when it is missing. Undefined when still missing.
 */
export async function findVoice(
  cache: VoiceCache,
  name: string,
  signal?: AbortSignal,
): Promise<Voice | undefined> {
  const hit = (await cache.get(signal)).find((v) => v.name === name);
  return hit ?? (await cache.refresh(signal)).find((v) => v.name === name);
}
