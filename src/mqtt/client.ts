import mqtt, { type IClientPublishOptions, type MqttClient, type Packet } from 'mqtt';
import type { Log } from '../shared/log.js';
import { redactCredentials } from '../shared/redact.js';

/** A message handler; `packet` gives MQTT 5 properties (response topic, correlation data). */
export type MessageHandler = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => void;

/** Options of a publish: QoS (default 0), retain (default false), MQTT 5 properties. */
export type PublishOptions = Pick<IClientPublishOptions, 'qos' | 'retain' | 'properties'>;

/** The publish function handed to sinks and domains that publish (DESIGN "Architecture rules"). */
export type PublishFn = (topic: string, payload: string | Buffer, opts?: PublishOptions) => Promise<void>;

/** The hub's MQTT connection. */
export interface MqttBus {
  /** Connects and publishes `online` on the availability topic; resolves on the first connect. */
  start(signal?: AbortSignal): Promise<void>;
  publish: PublishFn;
  /**
   * Registers `handler` for `filter` (wildcards allowed) at `qos`. Call it before `start()` for topics whose
   * queued QoS 1 messages must not be missed: a persistent session delivers them right after CONNACK.
   * mqtt.js resubscribes on reconnect.
   */
  subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void>;
  /** Publishes `offline` (retained) and disconnects cleanly. */
  stop(): Promise<void>;
  /** True while connected. */
  connected(): boolean;
  /** The negotiated protocol version (4 = 3.1.1, 5). */
  readonly protocolVersion: 4 | 5;
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

/**
 * Creates the MQTT bus: a persistent session (clean: false, fixed client id) so QoS 1 requests published while
 * the hub restarts are delivered when it is back; `offline` retained as the will; `online` on every connect.
 * @param protocolVersion 5 for brokers that speak it (mosquitto), 4 for the embedded aedes broker.
 */
export function createMqttBus(opts: {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  availabilityTopic: string;
  protocolVersion: 4 | 5;
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
  const handlers: Array<{ filter: string; qos: 0 | 1; handler: MessageHandler }> = [];
  let client: MqttClient | undefined;

  const publish: PublishFn = async (topic, payload, pubOpts = {}) => {
    if (!client) throw new Error('mqtt bus not started');
    await client.publishAsync(topic, payload, { qos: 0, retain: false, ...pubOpts });
  };

  return {
    protocolVersion: opts.protocolVersion,
    publish,
    connected: () => client?.connected ?? false,
    async start(signal) {
      client = mqtt.connect(opts.url, {
        clientId: opts.clientId,
        username: opts.username,
        password: opts.password,
        clean: false,
        protocolVersion: opts.protocolVersion,
        properties:
          opts.protocolVersion === 5
            ? {
                sessionExpiryInterval: 24 * 3600,
                ...(opts.maxPacketBytes ? { maximumPacketSize: opts.maxPacketBytes } : {}),
              }
            : undefined,
        reconnectPeriod: 2000,
        connectTimeout: 10_000,
        reconnectOnConnackError: true,
        will: { topic: opts.availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      const c = client;
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
        for (const { filter, handler } of handlers) {
          if (!topicMatches(filter, topic)) continue;
          try {
            handler(topic, payload, packet as mqtt.IPublishPacket);
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
      for (const { filter, qos } of handlers) await c.subscribeAsync(filter, { qos });
    },
    async subscribe(filter, qos, handler) {
      handlers.push({ filter, qos, handler });
      if (client?.connected) await client.subscribeAsync(filter, { qos });
    },
    async stop() {
      const c = client;
      if (!c) return;
      client = undefined;
      if (c.connected) {
        await c.publishAsync(opts.availabilityTopic, 'offline', { qos: 1, retain: true }).catch(() => {});
      }
      await c.endAsync();
    },
  };
}
