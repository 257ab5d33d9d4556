import mqtt, { type IClientPublishOptions, type MqttClient, type Packet } from 'mqtt';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { redactCredentials } from '../shared/redact.js';
import {
  type BusState,
  endSession,
  leaveShareGroup,
  trackOutstanding,
  waitForConnect,
} from './bus-session.js';
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

type BusOptions = Parameters<typeof createMqttBus>[0];

/** True when a `manualAck` subscription matches `topic`. */
function manual(s: BusState, topic: string): boolean {
  return s.handlers.some((h) => h.manualAck && topicMatches(h.filter, topic));
}

/** Creates the mqtt.js client: persistent session, `offline` as the will, MQTT 5 properties from `opts`. */
function connectClient(opts: BusOptions): MqttClient {
  const properties =
    opts.protocolVersion === 5
      ? {
          sessionExpiryInterval: 24 * 3600,
          ...(opts.receiveMaximum ? { receiveMaximum: opts.receiveMaximum } : {}),
          ...(opts.maxPacketBytes ? { maximumPacketSize: opts.maxPacketBytes } : {}),
        }
      : undefined;
  return mqtt.connect(opts.url, {
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
}

/**
 * Hands a message that arrived on `c` to every matching handler, with an `ack` that sends the PUBACK of a
 * held QoS 1 message once, and only on the connection it arrived on.
 */
function routeMessage(s: BusState, c: MqttClient, topic: string, payload: Buffer, packet: Packet): void {
  const publishPacket = packet as mqtt.IPublishPacket;
  const held = publishPacket.qos === 1 && manual(s, topic);
  const arrivedOn = s.connection;
  let acked = false;
  const ack = (): boolean => {
    if (!held || acked) return true;
    if (arrivedOn !== s.connection || !c.connected || publishPacket.messageId === undefined) return false;
    acked = true;
    sendPuback(c, publishPacket.messageId);
    return true;
  };
  for (const { filter, handler } of s.handlers) {
    if (!topicMatches(filter, topic)) continue;
    try {
      handler(topic, payload, publishPacket, ack);
    } catch (err) {
      s.log.error({ err, topic }, 'mqtt handler threw');
    }
  }
}

/** `MqttBus.start(signal)`: connects, wires the client's events, waits for the first connect, subscribes. */
async function startBus(s: BusState, opts: BusOptions, signal?: AbortSignal): Promise<void> {
  const { log } = s;
  s.client = connectClient(opts);
  const c = s.client;
  trackOutstanding(s, c);
  holdAcks(c, (packet) => manual(s, packet.topic));
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
  c.on('message', (topic: string, payload: Buffer, packet: Packet) =>
    routeMessage(s, c, topic, payload, packet),
  );
  await waitForConnect(c, signal);
  for (const { subscription, qos } of s.handlers) await c.subscribeAsync(subscription, { qos });
}

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
  const s: BusState = {
    log: opts.log,
    handlers: [],
    client: undefined,
    connection: 0,
    outstanding: new Map(),
  };

  const publish: PublishFn = async (topic, payload, pubOpts = {}) => {
    if (!s.client) throw new Error('mqtt bus not started');
    const problem = publishTopicProblem(topic);
    if (problem)
      throw new AppError('INTERNAL', `refusing to publish to topic '${topic.slice(0, 80)}': it ${problem}`);
    await s.client.publishAsync(topic, payload, { qos: 0, retain: false, ...pubOpts });
  };

  return {
    protocolVersion: opts.protocolVersion,
    publish,
    connected: () => s.client?.connected ?? false,
    start: (signal) => startBus(s, opts, signal),
    async subscribe(filter, qos, handler, subOpts = {}) {
      const subscription = subOpts.share && opts.shareGroup ? sharedFilter(opts.shareGroup, filter) : filter;
      s.handlers.push({ filter, subscription, qos, handler, manualAck: subOpts.manualAck ?? false });
      if (s.client?.connected) await s.client.subscribeAsync(subscription, { qos });
    },
    leaveShareGroup: (timeoutMs = 3000) => leaveShareGroup(s, timeoutMs),
    stop: (timeoutMs = 3000) => endSession(s, opts.availabilityTopic, timeoutMs),
  };
}
