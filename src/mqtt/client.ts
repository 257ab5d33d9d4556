import mqtt, { type IClientPublishOptions, type MqttClient, type Packet } from 'mqtt';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { redactCredentials } from '../shared/redact.js';
import { holdAcks, sendPuback } from './manual-ack.js';
import { publishTopicProblem } from './topic-check.js';

/**
 * A message handler; `packet` gives MQTT 5 properties (response topic, correlation data). For subscriptions
 * made with `manualAck`, `ack` sends the PUBACK of a QoS 1 message (once; false when the connection it came on
 * is gone, in which case the broker delivers it again); for others it is a no-op returning true.
 */
export type MessageHandler = (
  topic: string,
  payload: Buffer,
  packet: mqtt.IPublishPacket,
  ack: () => boolean,
) => void;

/** Options of a publish: QoS (default 0), retain (default false), MQTT 5 properties. */
export type PublishOptions = Pick<IClientPublishOptions, 'qos' | 'retain' | 'properties'>;

/** The publish function handed to sinks and domains that publish (DESIGN "Architecture rules"). */
export type PublishFn = (topic: string, payload: string | Buffer, opts?: PublishOptions) => Promise<void>;

/** The hub's MQTT connection. */
export interface MqttBus {
  /** Connects and publishes `online` on the availability topic; resolves on the first connect. */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Publishes; resolves when a QoS 1 message is acknowledged by the broker.
   * @throws AppError INTERNAL for a topic no broker accepts (wildcard, NUL, bad UTF-8, too long); rejects with
   *   mqtt.js's error when the broker refused the message (MQTT 5 reason code, or dropped after it closed the
   *   connection on it twice, see `createMqttBus`).
   */
  publish: PublishFn;
  /**
   * Registers `handler` for `filter` (wildcards allowed) at `qos`. Call it before `start()` for topics whose
   * queued QoS 1 messages must not be missed: a persistent session delivers them right after CONNACK.
   * mqtt.js resubscribes on reconnect. With `manualAck`, QoS 1 messages on this filter are acknowledged only
   * when the handler calls `ack` (at-least-once requests, see `request-inbox.ts`).
   */
  subscribe(
    filter: string,
    qos: 0 | 1,
    handler: MessageHandler,
    opts?: { manualAck?: boolean; share?: boolean },
  ): Promise<void>;
  /**
   * Unsubscribes every subscription made with `share` (a hub that stops leaves its share group, so the broker
   * sends new requests to the other hubs); resolves on the UNSUBACK, after which nothing more arrives on them.
   * Resolves at once without a share group or connection; gives up after `timeoutMs` (default 3000).
   */
  leaveShareGroup(timeoutMs?: number): Promise<void>;
  /** Publishes `offline` (retained) and disconnects cleanly (forcibly after `timeoutMs`, default 3000). */
  stop(timeoutMs?: number): Promise<void>;
  /** True while connected. */
  connected(): boolean;
  /** The negotiated protocol version (4 = 3.1.1, 5). */
  readonly protocolVersion: 4 | 5;
}

/**
 * The shared subscription of `filter` in `group` (MQTT 5 §4.8.2; mosquitto 2 offers it to 3.1.1 clients too):
 * the broker gives each message to one member of the group.
 */
export function sharedFilter(group: string, filter: string): string {
  return `$share/${group}/${filter}`;
}

/** True when an MQTT topic matches a subscription filter with `+` and `#` wildcards. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return true;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}

/** A QoS 1 publish of ours waiting for its PUBACK: on which connection it was last sent, and how often the
 * broker closed the connection while it was outstanding. */
interface Outstanding {
  topic: string;
  connection: number;
  strikes: number;
}

/** Closes in a row with a publish outstanding after which it is taken as refused and dropped. */
const REFUSED_AFTER_CLOSES = 2;

/**
 * Creates the MQTT bus: a persistent session (clean: false, fixed client id) so QoS 1 requests published while
 * the hub restarts are delivered when it is back; `offline` retained as the will; `online` on every connect.
 *
 * A publish the broker refuses by closing the connection (mosquitto does so for a malformed publish) would be
 * resent by mqtt.js from its outgoing store at every reconnect, and mqtt.js emits `connect` only after that
 * store is drained, so the session would never recover. The bus counts, per outstanding QoS 1 publish, the
 * closes that happened while it was outstanding; at REFUSED_AFTER_CLOSES it removes it
 * (`client.removeOutgoingMessage`, which fails its promise) and logs once.
 * @param protocolVersion 5 for brokers that speak it (mosquitto), 4 for the embedded aedes broker.
 * @param receiveMaximum MQTT 5 Receive Maximum advertised in CONNECT: QoS 1 messages the broker may send before
 *   the hub acknowledges them.
 */
export function createMqttBus(opts: {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  availabilityTopic: string;
  protocolVersion: 4 | 5;
  receiveMaximum?: number;
  /** `mqtt.share_group`: subscriptions made with `share` go to `$share/<group>/<filter>`; '' or absent: none. */
  shareGroup?: string;
  /** Keepalive in seconds (mqtt.js default 60). */
  keepaliveS?: number;
  /**
   * Largest packet the hub takes, in bytes (option `limits.mqtt_max_packet_kb`). With MQTT 5 it goes to the
   * broker as the CONNECT property Maximum Packet Size, so the broker drops bigger messages instead of sending
   * them (mosquitto does; MQTT 5.0 §3.1.2.11.4), and mqtt.js refuses any that still come. MQTT 3.1.1 has no
   * such property: there only the per-topic checks after receipt apply.
   */
  maxPacketBytes?: number;
  log: Log;
}): MqttBus {
  const { log } = opts;
  const handlers: Array<{
    filter: string;
    /** What is sent to the broker: the filter, or `$share/<group>/<filter>`. */
    subscription: string;
    qos: 0 | 1;
    handler: MessageHandler;
    manualAck: boolean;
  }> = [];
  let client: MqttClient | undefined;
  /** Counts CONNACKs: a PUBACK is only valid on the connection its publish arrived on. */
  let connection = 0;
  const outstanding = new Map<number, Outstanding>();

  const manual = (topic: string): boolean =>
    handlers.some((h) => h.manualAck && topicMatches(h.filter, topic));

  const publish: PublishFn = async (topic, payload, pubOpts = {}) => {
    if (!client) throw new Error('mqtt bus not started');
    const problem = publishTopicProblem(topic);
    if (problem)
      throw new AppError('INTERNAL', `refusing to publish to topic '${topic.slice(0, 80)}': it ${problem}`);
    await client.publishAsync(topic, payload, { qos: 0, retain: false, ...pubOpts });
  };

  const track = (c: MqttClient): void => {
    c.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'connack') connection++;
      if (packet.cmd === 'puback' && packet.messageId !== undefined) outstanding.delete(packet.messageId);
    });
    c.on('packetsend', (packet: Packet) => {
      if (packet.cmd !== 'publish' || !packet.qos || packet.messageId === undefined) return;
      const known = outstanding.get(packet.messageId);
      if (known && known.topic === packet.topic) known.connection = connection;
      else outstanding.set(packet.messageId, { topic: packet.topic, connection, strikes: 0 });
    });
    c.on('close', () => {
      for (const [messageId, o] of outstanding) {
        if (o.connection !== connection) continue;
        o.strikes++;
        if (o.strikes < REFUSED_AFTER_CLOSES) continue;
        outstanding.delete(messageId);
        log.warn(
          { topic: o.topic, closes: o.strikes },
          'broker closed the connection each time this publish was sent; dropped it',
        );
        c.removeOutgoingMessage(messageId);
      }
    });
  };

  return {
    protocolVersion: opts.protocolVersion,
    publish,
    connected: () => client?.connected ?? false,
    async start(signal) {
      const properties =
        opts.protocolVersion === 5
          ? {
              sessionExpiryInterval: 24 * 3600,
              ...(opts.receiveMaximum ? { receiveMaximum: opts.receiveMaximum } : {}),
              ...(opts.maxPacketBytes ? { maximumPacketSize: opts.maxPacketBytes } : {}),
            }
          : undefined;
      client = mqtt.connect(opts.url, {
        clientId: opts.clientId,
        username: opts.username,
        password: opts.password,
        clean: false,
        protocolVersion: opts.protocolVersion,
        properties,
        reconnectPeriod: 2000,
        connectTimeout: 10_000,
        ...(opts.keepaliveS ? { keepalive: opts.keepaliveS } : {}),
        reconnectOnConnackError: true,
        will: { topic: opts.availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      const c = client;
      track(c);
      holdAcks(c, (packet) => manual(packet.topic));
      c.on('connect', () => {
        // Small result messages must not wait on Nagle + delayed ACK (~40 ms per hop on loopback).
        const stream = c.stream as { setNoDelay?: (on: boolean) => void };
        stream.setNoDelay?.(true);
        log.info({ url: redactCredentials(opts.url) }, 'mqtt connected');
        c.publish(opts.availabilityTopic, 'online', { qos: 1, retain: true });
      });
      c.on('reconnect', () => log.debug('mqtt reconnecting'));
      c.on('offline', () => log.warn('mqtt offline'));
      c.on('error', (err) => log.warn({ err: err.message }, 'mqtt error'));
      c.on('message', (topic: string, payload: Buffer, packet: Packet) => {
        const publishPacket = packet as mqtt.IPublishPacket;
        const held = publishPacket.qos === 1 && manual(topic);
        const arrivedOn = connection;
        let acked = false;
        const ack = (): boolean => {
          if (!held || acked) return true;
          if (arrivedOn !== connection || !c.connected || publishPacket.messageId === undefined) return false;
          acked = true;
          sendPuback(c, publishPacket.messageId);
          return true;
        };
        for (const { filter, handler } of handlers) {
          if (!topicMatches(filter, topic)) continue;
          try {
            handler(topic, payload, publishPacket, ack);
          } catch (err) {
            log.error({ err, topic }, 'mqtt handler threw');
          }
        }
      });
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        c.once('connect', () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
      for (const { subscription, qos } of handlers) await c.subscribeAsync(subscription, { qos });
    },
    async subscribe(filter, qos, handler, subOpts = {}) {
      const subscription = subOpts.share && opts.shareGroup ? sharedFilter(opts.shareGroup, filter) : filter;
      handlers.push({ filter, subscription, qos, handler, manualAck: subOpts.manualAck ?? false });
      if (client?.connected) await client.subscribeAsync(subscription, { qos });
    },
    async leaveShareGroup(timeoutMs = 3000) {
      // Handlers stay: what the broker sent before the UNSUBACK still arrives and is handled. mqtt.js forgets an
      // unsubscribed filter, so a reconnect does not subscribe it again.
      const shared = handlers.filter((h) => h.subscription !== h.filter).map((h) => h.subscription);
      const c = client;
      if (!shared.length || !c?.connected) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        c
          .unsubscribeAsync(shared)
          .catch((err) => log.warn({ err: String(err) }, 'leaving the share group failed')),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      log.info({ subscriptions: shared }, 'left the share group');
    },
    async stop(timeoutMs = 3000) {
      const c = client;
      if (!c) return;
      client = undefined;
      if (c.connected) {
        await Promise.race([
          c.publishAsync(opts.availabilityTopic, 'offline', { qos: 1, retain: true }).catch(() => {}),
          new Promise((r) => setTimeout(r, timeoutMs).unref()),
        ]);
      }
      // mqtt.js waits for outstanding publishes before it disconnects; a broker that is gone never acks them.
      // After the timeout the socket is destroyed; what was outstanding stays with the broker's session.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), timeoutMs);
      });
      const ended = c.endAsync().then(
        () => 'ended' as const,
        () => 'ended' as const,
      );
      if ((await Promise.race([ended, timedOut])) === 'timeout') c.stream?.destroy();
      clearTimeout(timer);
    },
  };
}
