/**
 * The MQTT input of Home Assistant's notify entity (published by discovery, `discovery.ts`): each message on
 * its command topic is spoken through the say service, at least once (through the request inbox), and answered
 * on the result topic like `tts/say`. Retained messages are ignored (an old message must not speak again at
 * every connect).
 */
import { checkPayloadSize, type RequestDefaults, toSayRequest } from '../say/request.js';
import { errorPayload, resultPayload } from '../say/result.js';
import type { SayService } from '../say/service.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import type { InboxContext, RequestInbox } from './inbox-types.js';
import { isShutdown } from './say-adapter.js';

/** What the notify input needs. */
export interface NotifyOptions {
  bus: MqttBus;
  /** The notify entity's command topic (`<say topic's parent>/notify`). */
  topic: string;
  resultTopic: string;
  /** In a share group: this hub's client id, added to results as `hub`. */
  hub?: string;
  /** At-least-once intake of the notify entity's messages (see request-inbox.ts). */
  inbox: RequestInbox;
  sayService: SayService;
  maxTextChars: number;
  /** Largest notify message taken, in bytes, checked before decoding. */
  maxPayloadBytes?: number;
  /** Format and clean-up of notify messages (`default_format`, `text.clean`, `text.urls`). */
  defaults?: RequestDefaults;
  log: Log;
}

/**
 * The say body of a notify message. Home Assistant's MQTT notify entity sends only the message
 * (home-assistant/core `homeassistant/components/mqtt/notify.py`, `async_send_message` renders the command
 * template from the message alone), so the message is the only place for notify data: a message that is a JSON
 * object with a string `text` is taken as a `tts/say` body (chime, target, voice, …); anything else, including
 * text that merely looks like JSON, is spoken as it is.
 */
export function notifyBody(message: string): Record<string, unknown> {
  const trimmed = message.trim();
  if (trimmed.startsWith('{')) {
    try {
      const json: unknown = JSON.parse(trimmed);
      if (
        typeof json === 'object' &&
        json !== null &&
        typeof (json as { text?: unknown }).text === 'string'
      ) {
        return json as Record<string, unknown>;
      }
    } catch {
      // Not JSON: spoken as text.
    }
  }
  return { text: message };
}

/**
 * Subscribes the notify topic through the inbox (call before `bus.start()`): the message is spoken (plain text,
 * or a JSON say body, see `notifyBody`) and answered on the result topic. A say cut by the hub's stop is left for
 * the next start, never answered.
 */
export async function attachNotify(opts: NotifyOptions): Promise<void> {
  const { bus, log } = opts;
  const speak = async (payload: Buffer, ctx: InboxContext): Promise<boolean> => {
    let id = '';
    try {
      checkPayloadSize(payload.length, opts.maxPayloadBytes ?? Number.POSITIVE_INFINITY);
      const request = toSayRequest(notifyBody(payload.toString('utf8')), opts.maxTextChars, opts.defaults);
      id = request.id;
      if (ctx.abandoned) throw ctx.abandoned;
      const result = await opts.sayService.say(request, ctx.signal, { ledger: ctx.ledger });
      await bus.publish(opts.resultTopic, JSON.stringify(withHub(resultPayload(result), opts.hub)), {
        qos: 1,
      });
    } catch (err) {
      if (isShutdown(err, ctx)) return false; // replayed at the next start
      const e = toAppError(err);
      log.warn({ id, code: e.code, err: e.message }, 'notify say failed');
      await bus
        .publish(opts.resultTopic, JSON.stringify(withHub(errorPayload(id, e), opts.hub)), { qos: 1 })
        .catch(() => {});
    }
    return true;
  };
  await opts.inbox.subscribe(bus, opts.topic, (msg, ctx) => speak(msg.payload, ctx), undefined, {
    maxPayloadBytes: opts.maxPayloadBytes,
  });
}

/** A result payload with `hub` (the answering hub's client id) when the hub is in a share group. */
export function withHub<T extends object>(body: T, hub: string | undefined): T & { hub?: string } {
  return hub ? { ...body, hub } : body;
}
