/**
 * The voice and cache keys of one say attempt on one engine (split from job.ts): which voice, speaker and
 * language the attempt uses, and its cache key per output format, hashed once per attempt.
 */
import type { OutputFormat } from '../audio/format.js';
import { cacheKey } from '../cache/key.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import type { PhraseVoice } from './phrases.js';
import type { SayRequest } from './request.js';

/** The voice an attempt uses and the cache keys it produces. */
export interface AttemptVoice extends PhraseVoice {
  /** The cache key of this speech in `format`. */
  keyFor(format: OutputFormat): string;
}

/**
 * The voice of `request` on `entry`: the request's voice and speaker on the requested engine, the engine's own
 * defaults on a fallback (another engine would not know the requested voice). Loudness settings are part of
 * the key so changing them never serves old audio, and so is `mix` (chime hashes and timing, say-chimes.ts).
 */
export function attemptVoice(
  request: SayRequest,
  entry: EngineEntry,
  isFallback: boolean,
  loudnorm: boolean,
  mix?: Record<string, unknown>,
): AttemptVoice {
  const voice = isFallback ? entry.voice : (request.voice ?? entry.voice);
  const speaker = isFallback ? entry.speaker : (request.speaker ?? entry.speaker);
  const language = request.language ?? entry.language;
  const options: Record<string, unknown> = {};
  if (entry.gainDb) options.gain_db = entry.gainDb;
  if (loudnorm) options.loudnorm = true;
  // A say asks for the same keys several times (lookups, the flight, the writer): each is hashed once.
  const keys = new Map<OutputFormat, string>();
  return {
    engine: entry.engine.name,
    voice,
    speaker,
    language,
    keyFor(format) {
      let key = keys.get(format);
      if (key === undefined) {
        key = cacheKey({
          engine: entry.engine.name,
          voice: voice ?? '',
          speaker,
          language,
          engineOptions: Object.keys(options).length ? options : undefined,
          format,
          text: request.text,
          mix,
        });
        keys.set(format, key);
      }
      return key;
    },
  };
}
