/**
 * The Hermes adapter (Rhasspy's MQTT protocol, rhasspy/rhasspy-hermes):
 * - always: `hermes/audioServer/+/playFinished` `{id, sessionId}` (`rhasspyhermes/audioserver.py`
 *   AudioPlayFinished) is passed to the playback domain, which waits for it after each playBytes;
 * - with `topics.hermes`: `hermes/tts/say` `{text, lang?, id?, siteId = "default", sessionId?, volume?}`
 *   (`rhasspyhermes/tts.py` TtsSay) is spoken through the say service to the site (`hermes:<siteId>`), and
 *   `hermes/tts/sayFinished` `{id, siteId, sessionId}` (TtsSayFinished) follows once the site has played it,
 *   also when speaking failed or the request was refused (a field of the wrong type), so a dialogue session
 *   never waits forever. Only a payload that is not decoded (over the size limit, not a JSON object) gets none:
 *   it names no id a dialogue manager could wait on.
 */
import { z } from 'zod';
import { toSayRequest } from '../inputs/say-payload.js';
import type { RequestDefaults } from '../say/request.js';
import type { SayService } from '../say/service.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import type { InboxContext, RequestInbox } from './inbox-types.js';
import { isShutdown } from './say-adapter.js';

/** Hermes topics used here. */
export const HERMES_TOPICS = {
  say: 'hermes/tts/say',
  sayFinished: 'hermes/tts/sayFinished',
  playFinished: 'hermes/audioServer/+/playFinished',
} as const;

/** hermes/tts/say, camelCase as on the wire; unknown fields are ignored (Hermes messages grow). */
const TtsSaySchema = z.object({
  text: z.string(),
  lang: z.string().nullish(),
  id: z.string().nullish(),
  siteId: z.string().nullish(),
  sessionId: z.string().nullish(),
  volume: z.number().nullish(),
});

/** TtsSayFinished `{id, siteId, sessionId}`; also read leniently from a refused say (string fields only). */
const SayFinishedSchema = z.object({
  id: z.string().nullish().catch(undefined),
  siteId: z.string().nullish().catch(undefined),
  sessionId: z.string().nullish().catch(undefined),
});

/** The sayFinished body answering a say whose fields are `raw`: its id and session, `default` as the site. */
function sayFinishedOf(raw: z.input<typeof SayFinishedSchema>): {
  id: string;
  siteId: string;
  sessionId: string;
} {
  return { id: raw.id ?? '', siteId: raw.siteId || 'default', sessionId: raw.sessionId ?? '' };
}

const PlayFinishedSchema = z.object({ id: z.string().nullish(), sessionId: z.string().nullish() });

/** The siteId of a `hermes/audioServer/<siteId>/<message>` topic (playFinished, audioFrame). */
export function siteOf(topic: string): string {
  return topic.split('/')[2] ?? '';
}

/** What the Hermes adapter is built from. */
export interface HermesOptions {
  bus: MqttBus;
  /** At-least-once intake of `hermes/tts/say` (see request-inbox.ts). */
  inbox: RequestInbox;
  sayService: SayService;
  playback: { playFinished(siteId: string, id: string): void };
  /** The `topics.hermes` option: take `hermes/tts/say` requests. */
  acceptSay: boolean;
  maxTextChars: number;
  /** Largest `hermes/tts/say` payload taken, in bytes, checked before decoding. */
  maxPayloadBytes?: number;
  /** Format and clean-up of requests that do not say (`default_format`, `text.*`); default: opus, no clean-up. */
  defaults?: RequestDefaults;
  log: Log;
}

type TtsSay = z.infer<typeof TtsSaySchema>;
type SayFinished = ReturnType<typeof sayFinishedOf>;

/** Publishes `hermes/tts/sayFinished` (QoS 1); a failed publish is logged. */
async function publishFinished(opts: HermesOptions, finished: SayFinished): Promise<void> {
  await opts.bus
    .publish(HERMES_TOPICS.sayFinished, JSON.stringify(finished), { qos: 1 })
    .catch((err) => opts.log.warn({ err: String(err) }, 'sayFinished publish failed'));
}

/**
 * Speaks `say` to its site through the say service; failures are logged (sayFinished follows either way).
 * @returns false when the hub is shutting down (the request is replayed at the next start).
 */
async function speakToSite(
  opts: HermesOptions,
  say: TtsSay,
  finished: SayFinished,
  ctx: InboxContext,
): Promise<boolean> {
  const { siteId } = finished;
  try {
    if (ctx.abandoned) throw ctx.abandoned;
    const request = toSayRequest(
      {
        text: say.text,
        ...(say.id ? { id: say.id } : {}),
        ...(say.lang ? { language: say.lang } : {}),
        ...(say.volume === null || say.volume === undefined ? {} : { volume: say.volume }),
        target: `hermes:${siteId}`,
      },
      opts.maxTextChars,
      opts.defaults,
    );
    const result = await opts.sayService.say(request, ctx.signal, { ledger: ctx.ledger });
    const failed = result.targets?.find((t) => !t.ok);
    if (failed) opts.log.warn({ id: request.id, siteId, err: failed.error }, 'hermes site did not play');
  } catch (err) {
    if (isShutdown(err, ctx)) return false;
    const e = toAppError(err);
    opts.log.warn({ id: finished.id, siteId, code: e.code, err: e.message }, 'hermes say failed');
  }
  return true;
}

/** Handles one `hermes/tts/say`. @returns false to leave it for the next start (see request-inbox.ts). */
async function handleSay(opts: HermesOptions, payload: Buffer, ctx: InboxContext): Promise<boolean> {
  if (payload.length > (opts.maxPayloadBytes ?? Number.POSITIVE_INFINITY)) {
    // Not decoded, so its id and site are unknown: Hermes has no error reply to send.
    opts.log.warn(
      { bytes: payload.length, maxBytes: opts.maxPayloadBytes, code: 'PAYLOAD_TOO_LARGE' },
      'hermes/tts/say refused: over limits.max_payload_kb',
    );
    return true;
  }
  const json = parseJson(payload);
  const parsed = TtsSaySchema.safeParse(json);
  if (!parsed.success) {
    opts.log.warn({ issue: parsed.error.issues[0]?.message, code: 'BAD_PAYLOAD' }, 'hermes/tts/say refused');
    // A JSON object names the session waiting on it: answer it, so the dialogue goes on.
    const known = SayFinishedSchema.safeParse(json);
    if (known.success) await publishFinished(opts, sayFinishedOf(known.data));
    return true;
  }
  const finished = sayFinishedOf(parsed.data);
  if (!(await speakToSite(opts, parsed.data, finished, ctx))) return false; // sayFinished after the replay
  await publishFinished(opts, finished);
  return true;
}

/** Subscribes the Hermes topics on `bus` (call before `bus.start()`). */
export async function attachHermes(opts: HermesOptions): Promise<void> {
  const { bus, log } = opts;
  await bus.subscribe(HERMES_TOPICS.playFinished, 1, (topic, payload) => {
    const parsed = PlayFinishedSchema.safeParse(parseJson(payload));
    if (!parsed.success || !parsed.data.id) {
      log.debug({ topic }, 'playFinished without id ignored');
      return;
    }
    opts.playback.playFinished(siteOf(topic), parsed.data.id);
  });
  if (!opts.acceptSay) return;
  await opts.inbox.subscribe(
    bus,
    HERMES_TOPICS.say,
    (msg, ctx) => handleSay(opts, msg.payload, ctx),
    undefined,
    {
      maxPayloadBytes: opts.maxPayloadBytes,
    },
  );
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
