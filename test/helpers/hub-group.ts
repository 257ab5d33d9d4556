/**
 * Two or more hub processes in one share group on one broker and one share dir (issue 15), and what the tests
 * observe of them on MQTT: every answer on tts/result, every play on the MQTT targets' topics, every retained
 * availability change.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { type HubProcess, startHub } from './hub-process.js';

/** Targets `sat0..sat<n-1>` of type mqtt publishing to `sat/<i>`: each play is one message there. */
export function mqttTargets(n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ name: `sat${i}`, type: 'mqtt', url: `sat/${i}` }));
}

/** Options of hub `clientId` in group `group`. */
export function groupOptions(
  brokerUrl: string,
  clientId: string,
  extra: { group?: string; takeoverS?: number; targets?: number; maxParallel?: number } = {},
): Record<string, unknown> {
  return {
    mqtt: {
      url: brokerUrl,
      client_id: clientId,
      share_group: extra.group ?? 'house',
      takeover_s: extra.takeoverS ?? 10,
    },
    engines: [{ name: 'espeak', type: 'espeak', max_parallel: extra.maxParallel ?? 2 }],
    targets: mqttTargets(extra.targets ?? 0),
  };
}

/** One answer on tts/result. */
export interface Answer {
  id: string;
  ok: boolean;
  hub?: string;
  error?: { code: string; message: string };
  delivered?: boolean;
}

/** What an observer client saw. */
export interface Observer {
  client: MqttClient;
  answers: Map<string, Answer[]>;
  /** Plays per `<request id>|<target topic>`. */
  plays: Map<string, number>;
  /** Every availability message: topic, payload, ms since the observer started. */
  availability: Array<{ topic: string; online: boolean; at: number }>;
  /** Retained and live messages on other topics by topic (last one wins). */
  last: Map<string, Buffer>;
  close(): Promise<void>;
}

/** Connects an observer subscribed to results, target topics, availability and `extra` topics. */
export async function observe(url: string, extra: string[] = []): Promise<Observer> {
  const client = await mqtt.connectAsync(url, {
    clientId: `observer-${Math.random().toString(16).slice(2)}`,
    protocolVersion: 5,
  });
  const t0 = Date.now();
  const obs: Observer = {
    client,
    answers: new Map(),
    plays: new Map(),
    availability: [],
    last: new Map(),
    close: () => client.endAsync(),
  };
  client.on('message', (topic, payload) => {
    if (topic === 'tts/result') {
      const a = JSON.parse(payload.toString()) as Answer;
      obs.answers.set(a.id, [...(obs.answers.get(a.id) ?? []), a]);
    } else if (topic.startsWith('sat/')) {
      const { id } = JSON.parse(payload.toString()) as { id: string };
      const k = `${id}|${topic}`;
      obs.plays.set(k, (obs.plays.get(k) ?? 0) + 1);
    } else if (topic.startsWith('tts/availability/')) {
      obs.availability.push({ topic, online: payload.toString() === 'online', at: Date.now() - t0 });
    }
    obs.last.set(topic, payload);
  });
  await client.subscribeAsync(['tts/result', 'sat/+', 'tts/availability/+', ...extra], { qos: 1 });
  return obs;
}

/** Starts hub `clientId` of the group on `shareDir`. */
export function startGroupHub(
  brokerUrl: string,
  clientId: string,
  shareDir: string,
  extra: Parameters<typeof groupOptions>[2] = {},
): Promise<HubProcess> {
  return startHub(groupOptions(brokerUrl, clientId, extra), { shareDir, readyTimeoutMs: 60_000 });
}
