import { performance } from 'node:perf_hooks';
import { parseSayPayload } from '../inputs/say-payload.js';
import type { RequestDefaults, SayRequest } from '../say/request.js';
import { errorPayload, resultPayload } from '../say/result.js';
import type { SayService } from '../say/service.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import type { InboxContext, InboxMessage, RequestInbox } from './inbox-types.js';
import { MAX_REPLY_TOPIC_BYTES, publishTopicProblem } from './topic-check.js';

/**
 * True when a say failed because the hub is stopping (its grace is over, the say service refused it, or an
 * engine or ffmpeg child died with the stop): the request is left for the next start, never answered.
 */
export function isShutdown(err: unknown, ctx: InboxContext): boolean {
  return ctx.signal.aborted || ctx.stopping() || (err instanceof AppError && err.code === 'SHUTTING_DOWN');
}

/** `high` when a JSON say payload asks for it (read before the request waits for its turn). */
export function sayPriority(payload: Buffer): 'high' | 'normal' {
  if (payload[0] !== 0x7b || !payload.includes('"priority"')) return 'normal';
  try {
    return (JSON.parse(payload.toString('utf8')) as { priority?: unknown }).priority === 'high'
      ? 'high'
      : 'normal';
  } catch {
    return 'normal';
  }
}

/**
 * Where a request's answer goes besides the result topic: `reply_to` and the MQTT 5 response topic, each
 * checked first (DESIGN "Delivery and limits": no wildcards, no leading `$`, valid UTF-8, at most
 * MAX_REPLY_TOPIC_BYTES). @throws AppError BAD_REPLY_TO naming the topic and what is wrong with it.
 */
export function replyTopics(replyTo: string | undefined, responseTopic: string | undefined): string[] {
  const topics: string[] = [];
  for (const [field, topic] of [
    ['reply_to', replyTo],
    ['response topic', responseTopic],
  ] as const) {
    if (topic === undefined) continue;
    const problem = publishTopicProblem(topic, { maxBytes: MAX_REPLY_TOPIC_BYTES, callerSupplied: true });
    if (problem) {
      throw new AppError(
        'BAD_REPLY_TO',
        `${field} '${topic.slice(0, 80)}' ${problem}; give a plain topic such as my/results`,
      );
    }
    topics.push(topic);
  }
  return topics;
}

/**
 * Takes say requests from the say topic through the at-least-once inbox and answers each on the result topic,
 * on `reply_to` when given, and on the MQTT 5 response topic with its correlation data. Bad payloads answer
 * `{id, ok:false, error}` and are logged once at warn; nothing here throws into mqtt.js. A request cut short
 * by a stop is not answered: it is replayed at the next start.
 */
export async function attachSayTopic(opts: {
  bus: MqttBus;
  inbox: RequestInbox;
  sayTopic: string;
  resultTopic: string;
  sayService: SayService;
  maxTextChars: number;
  /** Largest payload taken, in bytes, checked before decoding (`sayPayloadLimitBytes` of the options). */
  maxPayloadBytes?: number;
  /** Format and clean-up of requests that do not say (`default_format`, `text.*`); default: opus, no clean-up. */
  defaults?: RequestDefaults;
  /** In a share group: this hub's client id, added to every answer as `hub`. */
  hub?: string;
  log: Log;
}): Promise<void> {
  const { bus, log } = opts;

  const answer = async (msg: InboxMessage, extra: string[], body: object): Promise<void> => {
    const json = JSON.stringify(opts.hub ? { ...body, hub: opts.hub } : body);
    const sends = [bus.publish(opts.resultTopic, json, { qos: 1 })];
    for (const topic of new Set(extra)) {
      if (topic === opts.resultTopic) continue;
      const correlationData = topic === msg.responseTopic ? msg.correlationData : undefined;
      sends.push(
        bus.publish(topic, json, { qos: 1, properties: correlationData ? { correlationData } : {} }),
      );
    }
    const settled = await Promise.allSettled(sends);
    for (const s of settled) {
      if (s.status === 'rejected') log.warn({ err: String(s.reason) }, 'result publish failed');
    }
  };

  const handle = async (msg: InboxMessage, ctx: InboxContext): Promise<boolean> => {
    let request: SayRequest;
    try {
      request = parseSayPayload(msg.payload, opts.maxTextChars, opts.defaults, opts.maxPayloadBytes);
    } catch (err) {
      const e = toAppError(err, 'BAD_PAYLOAD');
      const id = typeof e.details?.id === 'string' ? e.details.id : '';
      log.warn({ id, code: e.code, err: e.message, bytes: msg.payload.length }, 'say request refused');
      await answer(msg, validOnly(msg.responseTopic), errorPayload(id, e));
      return true;
    }
    keepArrival(request, msg);
    let extra: string[];
    try {
      extra = replyTopics(request.replyTo, msg.responseTopic);
    } catch (err) {
      const e = toAppError(err);
      log.warn({ id: request.id, code: e.code, err: e.message }, 'say request refused');
      await answer(msg, validOnly(msg.responseTopic), errorPayload(request.id, e));
      return true;
    }
    log.debug({ id: request.id, chars: request.text.length, replayed: msg.replayed }, 'say received');
    try {
      if (ctx.abandoned) throw ctx.abandoned;
      const result = await opts.sayService.say(request, ctx.signal, { ledger: ctx.ledger });
      await answer(msg, extra, resultPayload(result));
    } catch (err) {
      if (isShutdown(err, ctx)) {
        log.info({ id: request.id }, 'say left for the next start');
        return false;
      }
      const e = toAppError(err);
      log.warn({ id: request.id, code: e.code, err: e.message }, 'say failed');
      await answer(msg, extra, errorPayload(request.id, e));
    }
    return true;
  };

  await opts.inbox.subscribe(bus, opts.sayTopic, handle, sayPriority, {
    maxPayloadBytes: opts.maxPayloadBytes,
  });
}

/**
 * The request's deadline counts from the message's arrival (its wait in the inbox, and before a restart for a
 * replayed one, included), and keeps to the MQTT 5 message expiry interval the broker forwarded with it.
 */
function keepArrival(request: SayRequest, msg: InboxMessage): void {
  request.receivedAt = performance.now() - Math.max(0, Date.now() - msg.receivedAt);
  if (msg.expiryS !== undefined) request.expiryS = msg.expiryS;
}

/** The response topic when it is a valid one (an error answer still goes there), else none. */
function validOnly(responseTopic: string | undefined): string[] {
  try {
    return replyTopics(undefined, responseTopic);
  } catch {
    return [];
  }
}
