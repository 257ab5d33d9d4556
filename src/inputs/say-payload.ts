/**
 * The say request's wire format, shared by every input that takes one (DESIGN "MQTT"): MQTT `tts/say` (plain
 * text or JSON), HTTP `POST /api/say` and `/v1/audio/speech`, Hermes, the Wyoming TTS provider, the notify
 * entity and cron schedules. Snake_case on the wire (Home Assistant's habit); the domain's camelCase request
 * and its checks are src/say/request.ts. This module holds what is the wire's: the zod schemas, the size check
 * before decoding, the id a refusal is reported under, and the snake_case → camelCase conversion.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  type AnnounceFields,
  BUILT_IN_DEFAULTS,
  createSayRequest,
  MAX_LEAD_IN_MS,
  MAX_OFFSET_MS,
  type RequestDefaults,
  type SayRequest,
} from '../say/request.js';
import { AppError, type ErrorCode } from '../shared/errors.js';

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

/** The id a body is answered under: its own `id` when it is a string or number, else a new UUID. */
function idOf(body: unknown): string {
  const rawId =
    typeof body === 'object' && body !== null && 'id' in body ? (body as { id: unknown }).id : undefined;
  return typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : randomUUID();
}

/**
 * The refusal of a body that does not match {@link SayBodySchema} (HTTP routes validate with the schema first
 * and call this only on failure); undefined when it matches.
 */
export function sayBodyError(body: unknown): AppError | undefined {
  const id = idOf(body);
  if (Array.isArray(body)) {
    return new AppError('BAD_PAYLOAD', 'payload is a JSON array; send an object with "text"', {
      details: { id },
    });
  }
  const parsed = SayBodySchema.safeParse(body);
  return parsed.success
    ? undefined
    : new AppError('BAD_PAYLOAD', describeIssue(parsed.error), { details: { id } });
}

/**
 * A body already validated against {@link SayBodySchema} as a SayRequest (snake_case → camelCase, then the
 * domain's checks, src/say/request.ts).
 * @param id the id to use when the body has none; default a new UUID.
 * @throws AppError as createSayRequest.
 */
export function fromSayBody(
  b: SayBody,
  maxTextChars: number,
  defaults: RequestDefaults = BUILT_IN_DEFAULTS,
  id: string = b.id === undefined ? randomUUID() : String(b.id),
): SayRequest {
  const targets = b.target === undefined ? [] : Array.isArray(b.target) ? b.target : [b.target];
  return createSayRequest(
    {
      id,
      text: b.text,
      engine: b.engine,
      voice: b.voice,
      speaker: b.speaker,
      language: b.language,
      targets,
      format: b.format,
      cache: b.cache,
      priority: b.priority,
      volume: b.volume,
      replyTo: b.reply_to,
      wait: b.wait,
      deadlineS: b.deadline_s,
      clean: b.clean,
      preset: b.preset,
      ...announceFields(b),
    },
    maxTextChars,
    defaults,
  );
}

/**
 * Turns a wire body (any JSON value) into a SayRequest: {@link SayBodySchema}, then the domain's checks.
 * @param maxTextChars the `max_text_chars` option.
 * @param defaults format and clean-up when the body does not say; default {@link BUILT_IN_DEFAULTS}.
 * @throws AppError BAD_PAYLOAD (not an object, unknown or mistyped field), plus everything createSayRequest
 *   throws (TEXT_EMPTY, TEXT_TOO_LONG, FORMAT_UNSUPPORTED, BAD_PAYLOAD); `details.id` carries the id.
 */
export function toSayRequest(
  body: unknown,
  maxTextChars: number,
  defaults: RequestDefaults = BUILT_IN_DEFAULTS,
): SayRequest {
  const error = sayBodyError(body);
  if (error) throw error;
  return fromSayBody(body as SayBody, maxTextChars, defaults, idOf(body));
}

/** The announcement fields of a body (request or preset) in the domain's terms; absent fields stay absent. */
export function announceFields(b: {
  chime?: string | undefined;
  chime_after?: string | undefined;
  offset_ms?: number | undefined;
  lead_in_ms?: number | undefined;
  announce?: boolean | undefined;
  media_content_type?: string | undefined;
}): AnnounceFields {
  const out: AnnounceFields = {};
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
