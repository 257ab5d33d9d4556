/**
 * Cache keys: SHA-256 over a canonical JSON of everything that changes the audio.
 */
import { createHash } from 'node:crypto';
import type { OutputFormat } from '../audio/format.js';

/** Bump when the key recipe changes, so old entries stop matching instead of being served wrongly. */
const KEY_VERSION = 1;
const KEY_PATTERN = /^[0-9a-f]{64}$/;

/** What identifies one synthesized audio file. Absent optional fields hash like null. */
export interface CacheKeyInput {
  engine: string;
  voice: string;
  speaker?: string | undefined;
  language?: string | undefined;
  /** Engine settings that change the sound (length_scale…); key order does not matter. */
  engineOptions?: Record<string, unknown> | undefined;
  format: OutputFormat;
  text: string;
  /** What is mixed around the speech (chime content hashes, offset, lead-in); absent: plain speech. */
  mix?: Record<string, unknown> | undefined;
}

/** Text as it is hashed: Unicode NFC, every whitespace run collapsed to one space, trimmed. */
export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

/** JSON with object keys sorted at every depth, so equal values always give equal strings. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * The cache key of a request: 64 lowercase hex digits, the SHA-256 of a canonical JSON of
 * {v, engine, voice, speaker, language, engine_options, format, text (normalized), mix?}. `mix` is left out when
 * absent, so plain speech keeps the keys it always had.
 */
export function cacheKey(input: CacheKeyInput): string {
  const canonical = canonicalJson({
    v: KEY_VERSION,
    engine: input.engine,
    voice: input.voice,
    speaker: input.speaker ?? null,
    language: input.language ?? null,
    engine_options: input.engineOptions ?? {},
    format: input.format,
    text: normalizeText(input.text),
    mix: input.mix,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** True when `s` is a well-formed cache key (exactly 64 lowercase hex digits); only such keys reach the disk. */
export function isCacheKey(s: unknown): s is string {
  return typeof s === 'string' && KEY_PATTERN.test(s);
}
