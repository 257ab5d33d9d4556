/**
 * The MQTT bus's state and the parts of its session that do not route messages (client.ts): tracking our
 * outstanding QoS 1 publishes (a publish the broker refuses by closing the connection is dropped), leaving the
 * share group, and ending the session. Split from `createMqttBus` (issue 14); the reasons are described there.
 */
import type { MqttClient, Packet } from 'mqtt';
import type { Log } from '../shared/log.js';
import type { MessageHandler } from './client.js';

/** A subscription the bus made (and mqtt.js renews on reconnect). */
export interface BusSubscription {
  filter: string;
  /** What is sent to the broker: the filter, or `$share/<group>/<filter>`. */
  subscription: string;
  qos: 0 | 1;
  handler: MessageHandler;
  manualAck: boolean;
}

/** A QoS 1 publish of ours waiting for its PUBACK: on which connection it was last sent, and how often the
 * broker closed the connection while it was outstanding. */
interface Outstanding {
  topic: string;
  connection: number;
  strikes: number;
}

/** Everything one bus holds; owned by one `createMqttBus`, mutated by the functions here and in client.ts. */
export interface BusState {
  readonly log: Log;
  readonly handlers: BusSubscription[];
  /** The mqtt.js client; undefined before `start()` and once `stop()` began. */
  client: MqttClient | undefined;
  /** Counts CONNACKs: a PUBACK is only valid on the connection its publish arrived on. */
  connection: number;
  /** Our outstanding QoS 1 publishes by message id. */
  readonly outstanding: Map<number, Outstanding>;
}

/** Closes in a row with a publish outstanding after which it is taken as refused and dropped. */
const REFUSED_AFTER_CLOSES = 2;

/**
 * Counts CONNACKs on `c` and follows our QoS 1 publishes until their PUBACK; one outstanding over
 * REFUSED_AFTER_CLOSES closes is removed from mqtt.js's outgoing store (its promise fails) and logged once.
 */
export function trackOutstanding(s: BusState, c: MqttClient): void {
  c.on('packetreceive', (packet: Packet) => {
    if (packet.cmd === 'connack') s.connection++;
    if (packet.cmd === 'puback' && packet.messageId !== undefined) s.outstanding.delete(packet.messageId);
  });
  c.on('packetsend', (packet: Packet) => {
    if (packet.cmd !== 'publish' || !packet.qos || packet.messageId === undefined) return;
    const known = s.outstanding.get(packet.messageId);
    if (known && known.topic === packet.topic) known.connection = s.connection;
    else s.outstanding.set(packet.messageId, { topic: packet.topic, connection: s.connection, strikes: 0 });
  });
  c.on('close', () => {
    for (const [messageId, o] of s.outstanding) {
      if (o.connection !== s.connection) continue;
      o.strikes++;
      if (o.strikes < REFUSED_AFTER_CLOSES) continue;
      s.outstanding.delete(messageId);
      s.log.warn(
        { topic: o.topic, closes: o.strikes },
        'broker closed the connection each time this publish was sent; dropped it',
      );
      c.removeOutgoingMessage(messageId);
    }
  });
}

/**
 * Resolves once `c` connects; rejects with `signal.reason` when `signal` aborts first.
 */
export function waitForConnect(c: MqttClient, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    c.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** `MqttBus.leaveShareGroup(timeoutMs)`: unsubscribes the shared subscriptions, waiting at most `timeoutMs`. */
export async function leaveShareGroup(s: BusState, timeoutMs: number): Promise<void> {
  // Handlers stay: what the broker sent before the UNSUBACK still arrives and is handled. mqtt.js forgets an
  // unsubscribed filter, so a reconnect does not subscribe it again.
  const shared = s.handlers.filter((h) => h.subscription !== h.filter).map((h) => h.subscription);
  const c = s.client;
  if (!shared.length || !c?.connected) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    c
      .unsubscribeAsync(shared)
      .catch((err) => s.log.warn({ err: String(err) }, 'leaving the share group failed')),
    new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  s.log.info({ subscriptions: shared }, 'left the share group');
}

/**
 * `MqttBus.stop(timeoutMs)`: publishes `offline` (retained, QoS 1) on `availabilityTopic` and ends the
 * connection, each waiting at most `timeoutMs`; after that the socket is destroyed.
 */
export async function endSession(s: BusState, availabilityTopic: string, timeoutMs: number): Promise<void> {
  const c = s.client;
  if (!c) return;
  s.client = undefined;
  if (c.connected) {
    await Promise.race([
      c.publishAsync(availabilityTopic, 'offline', { qos: 1, retain: true }).catch(() => {}),
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
}
