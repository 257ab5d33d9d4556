import type { IPublishPacket } from 'mqtt';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { errorPayload, resultPayload } from '../tts/result.js';
import { parseSayPayload, type RequestDefaults } from '../tts/say-request.js';
import type { SayService } from '../tts/say-service.js';
import type { MqttBus } from './client.js';

/**
 * Subscribes the say topic (QoS 1) and answers each request on the result topic, on `reply_to` when given,
 * and on the MQTT 5 response topic with its correlation data. Bad payloads answer `{id, ok:false, error}`
 * and are logged once at warn; nothing here throws into mqtt.js.
 * Retained say messages are ignored: replaying them at every connect would repeat old announcements.
 */
export async function attachSayTopic(opts: {
  bus: MqttBus;
  sayTopic: string;
  resultTopic: string;
  sayService: SayService;
  maxTextChars: number;
  /** Format and clean-up of requests that do not say (`default_format`, `text.*`); default: opus, no clean-up. */
  defaults?: RequestDefaults;
  log: Log;
}): Promise<void> {
  const { bus, log } = opts;

  const answer = async (packet: IPublishPacket, replyTo: string | undefined, body: object): Promise<void> => {
    const json = JSON.stringify(body);
    const sends = [bus.publish(opts.resultTopic, json, { qos: 1 })];
    if (replyTo && replyTo !== opts.resultTopic) sends.push(bus.publish(replyTo, json, { qos: 1 }));
    const response = packet.properties?.responseTopic;
    if (response) {
      const correlationData = packet.properties?.correlationData;
      sends.push(
        bus.publish(response, json, { qos: 1, properties: correlationData ? { correlationData } : {} }),
      );
    }
    const settled = await Promise.allSettled(sends);
    for (const s of settled) {
      if (s.status === 'rejected') log.warn({ err: String(s.reason) }, 'result publish failed');
    }
  };

  const handle = async (payload: Buffer, packet: IPublishPacket): Promise<void> => {
    let request: ReturnType<typeof parseSayPayload>;
    try {
      request = parseSayPayload(payload, opts.maxTextChars, opts.defaults);
    } catch (err) {
      const e = toAppError(err, 'BAD_PAYLOAD');
      const id = typeof e.details?.id === 'string' ? e.details.id : '';
      log.warn({ id, code: e.code, err: e.message, bytes: payload.length }, 'say request refused');
      await answer(packet, undefined, errorPayload(id, e));
      return;
    }
    // MQTT 5: the broker forwards the seconds left of the publisher's message expiry; the deadline keeps to it.
    const expiryS = packet.properties?.messageExpiryInterval;
    if (expiryS !== undefined) request.expiryS = expiryS;
    log.debug({ id: request.id, chars: request.text.length }, 'say received');
    try {
      const result = await opts.sayService.say(request);
      await answer(packet, request.replyTo, resultPayload(result));
    } catch (err) {
      const e = toAppError(err);
      log.warn({ id: request.id, code: e.code, err: e.message }, 'say failed');
      await answer(packet, request.replyTo, errorPayload(request.id, e));
    }
  };

  await bus.subscribe(opts.sayTopic, 1, (_topic, payload, packet) => {
    if (packet.retain) {
      log.warn({ topic: opts.sayTopic }, 'retained say message ignored; publish say requests without retain');
      return;
    }
    handle(payload, packet).catch((err) => log.error({ err }, 'say handler failed'));
  });
}
