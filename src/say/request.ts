import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import { normalizeText } from '../cache/key.js';
import { AppError, type ErrorCode } from '../shared/errors.js';
import type { Priority } from '../tts/engine.js';
import { cleanText, type UrlSpeech } from './text-clean.js';

/** Longest lead-in silence, in ms. */
export const MAX_LEAD_IN_MS = 5000;
/** Largest gap or overlap between chime and speech, in ms. */
export const MAX_OFFSET_MS = 10_000;

/**
 * The announcement fields a request and a target's preset share (snake_case on the wire): chimes by name
 * (`"none"` or `""`: no chime, overriding a preset), the gap between chime and speech (negative overlaps) and
 * lead-in silence, plus how media players are asked to play.
 */
export const ANNOUNCE_FIELDS = {
  chime: z.string().max(64).optional(),
  chime_after: z.string().max(64).optional(),
  offset_ms: z.number().int().min(-MAX_OFFSET_MS).max(MAX_OFFSET_MS).optional(),
  lead_in_ms: z.number().int().min(0).max(MAX_LEAD_IN_MS).optional(),
  announce: z.boolean().optional(),
  media_content_type: z.string().min(1).max(64).optional(),
};

/**
 * The wire body of a say request, shared by MQTT `tts/say` (JSON form) and HTTP `POST /api/say`
 * (DESIGN "MQTT"): snake_case, validated strictly so a typo in a field name is reported, not ignored.
 */
export const SayBodySchema = z.strictObject({
  text: z.string(),
  id: z.union([z.string().max(128), z.number()]).optional(),
  engine: z.string().max(64).optional(),
  voice: z.string().max(128).optional(),
  speaker: z.string().max(128).optional(),
  language: z.string().max(32).optional(),
  target: z.union([z.string().min(1).max(128), z.array(z.string().min(1).max(128)).max(16)]).optional(),
  format: z.string().optional(),
  cache: z.boolean().optional(),
  priority: z.string().optional(),
  volume: z.number().optional(),
  /** Checked where it is used (BAD_REPLY_TO: wildcards, leading $, length), not here. */
  reply_to: z.string().optional(),
  /** Seconds from arrival by which the result must be out; default the `default_deadline_s` option. */
  deadline_s: z.number().positive().max(3600).optional(),
  /** Clean up Markdown, emoji and URLs before synthesis (text-clean.ts); default per input (`text` options). */
  clean: z.boolean().optional(),
  /**
   * `false` (HTTP only): answer as soon as the audio URL exists. `"all"`: the result waits until every target
   * reported the end of playback where it can tell (Wyoming `played`, Hermes `playFinished`, a media player's
   * state returning to what it was).
   */
  wait: z.union([z.boolean(), z.literal('all')]).optional(),
  ...ANNOUNCE_FIELDS,
  /** A named target whose defaults (chime, lead-in, voice, …) apply without playing on it (the panel's preview). */
  preset: z.string().min(1).max(64).optional(),
});
export type SayBody = z.infer<typeof SayBodySchema>;

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

/** The first zod issue of a failed parse, as `field: message`. */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid request';
  const where = issue.path.length ? issue.path.join('.') : 'payload';
  return `${where}: ${issue.message}`;
}

/**
 * Turns a parsed body into a SayRequest, checking everything that does not need the engines:
 * empty text, length, format, priority, volume. Engine, voice and target names are checked by the say service.
 * With clean-up (`clean` in the body, else `defaults.clean`) the text is checked for length as sent, then
 * cleaned (text-clean.ts), so the cache key and the engine see the cleaned text.
 * @param maxTextChars the `max_text_chars` option.
 * @param defaults format and clean-up when the body does not say; default {@link BUILT_IN_DEFAULTS}.
 * @throws AppError TEXT_EMPTY (also when nothing speakable is left after clean-up), TEXT_TOO_LONG,
 *   FORMAT_UNSUPPORTED, BAD_PAYLOAD; `details.id` carries the id.
 */
export function toSayRequest(
  body: unknown,
  maxTextChars: number,
  defaults: RequestDefaults = BUILT_IN_DEFAULTS,
): SayRequest {
  const rawId =
    typeof body === 'object' && body !== null && 'id' in body ? (body as { id: unknown }).id : undefined;
  const fallbackId = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : randomUUID();
  if (Array.isArray(body))
    fail('BAD_PAYLOAD', 'payload is a JSON array; send an object with "text"', fallbackId);
  const parsed = SayBodySchema.safeParse(body);
  if (!parsed.success) fail('BAD_PAYLOAD', describeIssue(parsed.error), fallbackId);
  const b = parsed.data;
  const id = b.id === undefined ? fallbackId : String(b.id);
  const sent = normalizeText(b.text);
  if (!sent) fail('TEXT_EMPTY', 'text is empty; send something to say', id);
  if (sent.length > maxTextChars) {
    fail(
      'TEXT_TOO_LONG',
      `text has ${sent.length} characters; the limit (max_text_chars) is ${maxTextChars}`,
      id,
    );
  }
  const clean = b.clean ?? defaults.clean;
  const text = clean ? normalizeText(cleanText(b.text, { urls: defaults.urls })) : sent;
  if (!text) {
    fail('TEXT_EMPTY', 'nothing speakable is left after clean-up (only code, emoji or links); send text', id);
  }
  const format = b.format ?? defaults.format;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    fail('FORMAT_UNSUPPORTED', `format '${format}' is not supported; use ${OUTPUT_FORMATS.join(', ')}`, id);
  }
  const priority = b.priority ?? 'normal';
  if (priority !== 'normal' && priority !== 'high') {
    fail('BAD_PAYLOAD', `priority '${priority}' is not valid; use normal or high`, id);
  }
  if (b.volume !== undefined && !(b.volume >= 0 && b.volume <= 1)) {
    fail('BAD_PAYLOAD', `volume ${b.volume} is out of range; use 0 to 1`, id);
  }
  const targets = b.target === undefined ? [] : Array.isArray(b.target) ? b.target : [b.target];
  return {
    id,
    text,
    engine: b.engine || undefined,
    voice: b.voice || undefined,
    speaker: b.speaker || undefined,
    language: b.language || undefined,
    targets,
    format: format as OutputFormat,
    cache: b.cache ?? true,
    priority,
    volume: b.volume,
    replyTo: b.reply_to,
    wait: b.wait !== false,
    ...(b.wait === 'all' ? { waitAll: true } : {}),
    ...(b.format !== undefined ? { formatGiven: true } : {}),
    ...announceFields(b),
    ...(b.preset ? { preset: b.preset } : {}),
    deadlineS: b.deadline_s,
    receivedAt: performance.now(),
    clean,
  };
}

/** The announcement fields of a body (request or preset) in the domain's terms; absent fields stay absent. */
export function announceFields(b: {
  chime?: string | undefined;
  chime_after?: string | undefined;
  offset_ms?: number | undefined;
  lead_in_ms?: number | undefined;
  announce?: boolean | undefined;
  media_content_type?: string | undefined;
}): Pick<SayRequest, 'chime' | 'chimeAfter' | 'offsetMs' | 'leadInMs' | 'announce' | 'mediaContentType'> {
  const out: Pick<
    SayRequest,
    'chime' | 'chimeAfter' | 'offsetMs' | 'leadInMs' | 'announce' | 'mediaContentType'
  > = {};
  if (b.chime !== undefined) out.chime = b.chime;
  if (b.chime_after !== undefined) out.chimeAfter = b.chime_after;
  if (b.offset_ms !== undefined) out.offsetMs = b.offset_ms;
  if (b.lead_in_ms !== undefined) out.leadInMs = b.lead_in_ms;
  if (b.announce !== undefined) out.announce = b.announce;
  if (b.media_content_type !== undefined) out.mediaContentType = b.media_content_type;
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Refuses a say message or body over `maxBytes` before anything decodes it (option `limits.max_payload_kb`).
 * @throws AppError PAYLOAD_TOO_LARGE naming the size, the limit and the option.
 */
export function checkPayloadSize(bytes: number, maxBytes: number, id: string = randomUUID()): void {
  if (bytes <= maxBytes) return;
  fail(
    'PAYLOAD_TOO_LARGE',
    `say message of ${bytes} bytes is over the limit of ${maxBytes} bytes (limits.max_payload_kb); send shorter text`,
    id,
  );
}

/**
 * Parses an MQTT `tts/say` payload: a JSON object (starts with `{`), or else plain text. Its size is checked
 * first, before it is decoded (`maxPayloadBytes`, default unlimited).
 * @throws AppError PAYLOAD_TOO_LARGE, TEXT_EMPTY (empty payload), INVALID_UTF8, INVALID_JSON, BAD_PAYLOAD (a
 *   JSON array or another non-object JSON value that starts like JSON), plus everything toSayRequest throws.
 */
export function parseSayPayload(
  payload: Buffer,
  maxTextChars: number,
  defaults: RequestDefaults = BUILT_IN_DEFAULTS,
  maxPayloadBytes = Number.POSITIVE_INFINITY,
): SayRequest {
  const id = randomUUID();
  checkPayloadSize(payload.length, maxPayloadBytes, id);
  if (payload.length === 0) fail('TEXT_EMPTY', 'payload is empty; send text or {"text": "..."}', id);
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    fail('INVALID_UTF8', 'payload is not valid UTF-8 text', id);
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      fail('INVALID_JSON', `payload looks like JSON but does not parse: ${(err as Error).message}`, id);
    }
    return toSayRequest(json, maxTextChars, defaults);
  }
  return toSayRequest({ text, id }, maxTextChars, defaults);
}
