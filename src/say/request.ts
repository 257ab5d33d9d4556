import { performance } from 'node:perf_hooks';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import { normalizeText } from '../cache/key.js';
import { AppError, type ErrorCode } from '../shared/errors.js';
import type { Priority } from '../tts/engine.js';
import { cleanText, type UrlSpeech } from './text-clean.js';

/** Longest lead-in silence, in ms. */
export const MAX_LEAD_IN_MS = 5000;
/** Largest gap or overlap between chime and speech, in ms. */
export const MAX_OFFSET_MS = 10_000;

/*
 * The domain's request, camelCase. Inputs read their own wire formats (snake_case JSON, Hermes, Wyoming, cron
 * schedules) in src/inputs/say-payload.ts and hand over {@link SayFields}; this file checks what does not depend
 * on the wire: text, length, clean-up, format, priority and volume.
 */

/** Request priority: `high` goes ahead of queued normal requests and interrupts a target (tts/engine.ts). */
export type { Priority };

/** A validated say request in the domain's terms. */
export interface SayRequest {
  id: string;
  text: string;
  engine?: string;
  voice?: string;
  speaker?: string;
  language?: string;
  targets: string[];
  format: OutputFormat;
  cache: boolean;
  priority: Priority;
  /** 0–1. */
  volume?: number;
  replyTo?: string;
  /** False: answer as soon as the audio URL exists (HTTP). */
  wait: boolean;
  /** `deadline_s`: seconds from arrival the request may take; unset: the hub's default. */
  deadlineS?: number;
  /** MQTT 5 message expiry interval as forwarded by the broker (seconds left), when the message had one. */
  expiryS?: number;
  /** `performance.now()` ms when the request arrived (was parsed); its deadline counts from here. */
  receivedAt: number;
  /** `performance.now()` ms by which it must be done; set by the say service from the above. */
  deadlineAt?: number;
  /** True for `wait: "all"`: the result waits for every target's reported end of playback. */
  waitAll?: boolean;
  /** True when the request named its format (it then wins over a target's `format`). */
  formatGiven?: boolean;
  /** Chime before the speech by name; `"none"` asks for none (overriding a preset). */
  chime?: string;
  /** Chime after the speech by name; `"none"` asks for none. */
  chimeAfter?: string;
  /** Gap between chime and speech in ms; negative overlaps them. */
  offsetMs?: number;
  /** Silence before everything, in ms. */
  leadInMs?: number;
  /** media_player: `announce`, overriding the target's. */
  announce?: boolean;
  /** media_player: `media_content_type`, overriding the target's. */
  mediaContentType?: string;
  /** A named target whose defaults apply without playing on it. */
  preset?: string;
  /** True when `text` was cleaned up (Markdown, emoji, URLs removed) before it was checked and hashed. */
  clean: boolean;
}

/**
 * What a request that does not say gets, per input: `format` (the `default_format` option), `clean` (the
 * `text.clean` option for the notify entity and the Wyoming server, `text.clean_requests` for the others) and
 * how clean-up speaks URLs (`text.urls`).
 */
export interface RequestDefaults {
  format: OutputFormat;
  clean: boolean;
  urls: UrlSpeech;
}

/** The defaults without any options: opus, no clean-up, URLs spoken as "link". */
export const BUILT_IN_DEFAULTS: RequestDefaults = { format: 'opus', clean: false, urls: 'link' };

function fail(code: ErrorCode, message: string, id: string): never {
  throw new AppError(code, message, { details: { id } });
}

/** The announcement fields a request and a target's preset share, in the domain's terms. */
export type AnnounceFields = Pick<
  SayRequest,
  'chime' | 'chimeAfter' | 'offsetMs' | 'leadInMs' | 'announce' | 'mediaContentType'
>;

/**
 * A request as an input read it, before the domain's checks: names already camelCase, values as sent
 * (`format` and `priority` unchecked strings, `wait` as sent, `clean` unset for the input's default).
 */
export interface SayFields
  extends AnnounceFields,
    Pick<SayRequest, 'id' | 'text' | 'engine' | 'voice' | 'speaker' | 'language' | 'targets'> {
  format?: string;
  cache?: boolean;
  priority?: string;
  volume?: number;
  replyTo?: string;
  wait?: boolean | 'all';
  deadlineS?: number;
  clean?: boolean;
  preset?: string;
}

/** Fails unless the text is there and within `maxTextChars`; returns the normalized text as sent. */
function checkedText(f: SayFields, maxTextChars: number): string {
  const sent = normalizeText(f.text);
  if (!sent) fail('TEXT_EMPTY', 'text is empty; send something to say', f.id);
  if (sent.length > maxTextChars) {
    fail(
      'TEXT_TOO_LONG',
      `text has ${sent.length} characters; the limit (max_text_chars) is ${maxTextChars}`,
      f.id,
    );
  }
  return sent;
}

/** Fails on an unknown format, priority or an out-of-range volume. */
function checkChoices(f: SayFields, format: string, priority: string): void {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    fail('FORMAT_UNSUPPORTED', `format '${format}' is not supported; use ${OUTPUT_FORMATS.join(', ')}`, f.id);
  }
  if (priority !== 'normal' && priority !== 'high') {
    fail('BAD_PAYLOAD', `priority '${priority}' is not valid; use normal or high`, f.id);
  }
  if (f.volume !== undefined && !(f.volume >= 0 && f.volume <= 1)) {
    fail('BAD_PAYLOAD', `volume ${f.volume} is out of range; use 0 to 1`, f.id);
  }
}

/**
 * Turns an input's fields into a SayRequest, checking everything that does not need the engines:
 * empty text, length, format, priority, volume. Engine, voice and target names are checked by the say service.
 * With clean-up (`clean`, else `defaults.clean`) the text is checked for length as sent, then cleaned
 * (text-clean.ts), so the cache key and the engine see the cleaned text.
 * @param maxTextChars the `max_text_chars` option.
 * @param defaults format and clean-up when the fields do not say; default {@link BUILT_IN_DEFAULTS}.
 * @throws AppError TEXT_EMPTY (also when nothing speakable is left after clean-up), TEXT_TOO_LONG,
 *   FORMAT_UNSUPPORTED, BAD_PAYLOAD; `details.id` carries the id.
 */
export function createSayRequest(
  f: SayFields,
  maxTextChars: number,
  defaults: RequestDefaults = BUILT_IN_DEFAULTS,
): SayRequest {
  const sent = checkedText(f, maxTextChars);
  const clean = f.clean ?? defaults.clean;
  const text = clean ? normalizeText(cleanText(f.text, { urls: defaults.urls })) : sent;
  if (!text) {
    fail(
      'TEXT_EMPTY',
      'nothing speakable is left after clean-up (only code, emoji or links); send text',
      f.id,
    );
  }
  const format = f.format ?? defaults.format;
  const priority = f.priority ?? 'normal';
  checkChoices(f, format, priority);
  return {
    id: f.id,
    text,
    engine: f.engine || undefined,
    voice: f.voice || undefined,
    speaker: f.speaker || undefined,
    language: f.language || undefined,
    targets: f.targets,
    format: format as OutputFormat,
    cache: f.cache ?? true,
    priority: priority as Priority,
    volume: f.volume,
    replyTo: f.replyTo,
    wait: f.wait !== false,
    ...(f.wait === 'all' ? { waitAll: true } : {}),
    ...(f.format !== undefined ? { formatGiven: true } : {}),
    ...announceOf(f),
    ...(f.preset ? { preset: f.preset } : {}),
    deadlineS: f.deadlineS,
    receivedAt: performance.now(),
    clean,
  };
}

/** The announcement fields that are set (absent ones stay absent, so a preset's fill in). */
function announceOf(f: AnnounceFields): AnnounceFields {
  const out: AnnounceFields = {};
  for (const k of ['chime', 'chimeAfter', 'offsetMs', 'leadInMs', 'announce', 'mediaContentType'] as const) {
    if (f[k] !== undefined) Object.assign(out, { [k]: f[k] });
  }
  return out;
}
