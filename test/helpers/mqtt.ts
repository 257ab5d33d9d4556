/** An MQTT test client that sends say requests and collects results, over a real broker. */
import mqtt, { type MqttClient } from 'mqtt';

/** A connected client subscribed to the result topic. */
export interface SayClient {
  client: MqttClient;
  /** Publishes `payload` on the say topic (QoS 1) and resolves with the next result whose id matches, or the next result when `id` is undefined. */
  say(payload: string | Buffer, id?: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every message received on subscribed topics. */
  received: Array<{ topic: string; payload: Buffer; retain: boolean }>;
  /** Resolves with the next message on `topic` that satisfies `match`. */
  next(topic: string, match?: (payload: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Connects to `url` and subscribes to `resultTopic` and `extraTopics`. */
export async function connectSayClient(
  url: string,
  opts: { sayTopic?: string; resultTopic?: string; extraTopics?: string[] } = {},
): Promise<SayClient> {
  const sayTopic = opts.sayTopic ?? 'tts/say';
  const resultTopic = opts.resultTopic ?? 'tts/result';
  const client = await mqtt.connectAsync(url, {
    clientId: `test-${Math.random().toString(16).slice(2)}`,
    protocolVersion: 5,
  });
  const received: SayClient['received'] = [];
  const waiters: Array<{ topic: string; match: (p: Buffer) => boolean; resolve: (p: Buffer) => void }> = [];
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload, retain: packet.retain });
    for (const w of [...waiters]) {
      if (w.topic === topic && w.match(payload)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(payload);
      }
    }
  });
  await client.subscribeAsync([resultTopic, ...(opts.extraTopics ?? [])], { qos: 1 });
  const next: SayClient['next'] = (topic, match = () => true, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no message on ${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.push({
        topic,
        match,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      });
    });
  return {
    client,
    received,
    next,
    async say(payload, id, timeoutMs) {
      const answer = next(
        resultTopic,
        (p) => id === undefined || (JSON.parse(p.toString()) as { id?: string }).id === id,
        timeoutMs,
      );
      await client.publishAsync(sayTopic, payload, { qos: 1 });
      return JSON.parse((await answer).toString()) as Record<string, unknown>;
    },
    close: () => client.endAsync(),
  };
}
