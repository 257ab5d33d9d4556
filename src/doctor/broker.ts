/**
 * Doctor checks of the MQTT broker: it accepts the hub's login, a QoS 1 message makes a round trip, it keeps a
 * persistent session and queues QoS 1 messages for a client that is away (what at-least-once delivery of
 * `tts/say` needs while the hub restarts), and whether it writes them to disk (see broker-persistence.ts).
 * Every connection uses its own client id (`tts_hub_doctor_<random>`), never the hub's, and the test session
 * is removed afterwards.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { redactCredentials } from '../shared/redact.js';
import { guessPersistence } from './broker-persistence.js';
import type { Finding } from './report.js';

/** The broker the hub uses; `none`: no broker answers and the hub would start its embedded one. */
export interface BrokerTarget {
  url: string;
  username?: string;
  password?: string;
  source: 'options' | 'supervisor' | 'local' | 'embedded' | 'none';
}

const TIMEOUT_MS = 5000;

/**
 * Connects; resolves with the client, CONNACK's session-present flag, and every message received from the
 * start (a session's queued messages can arrive in the same read as CONNACK, before any later listener).
 * @throws the connection error.
 */
function connect(
  target: BrokerTarget,
  clientId: string,
  clean: boolean,
): Promise<{
  client: MqttClient;
  sessionPresent: boolean;
  received: Array<{ topic: string; payload: Buffer }>;
}> {
  const protocolVersion = target.source === 'embedded' ? 4 : 5;
  const client = mqtt.connect(target.url, {
    clientId,
    username: target.username,
    password: target.password,
    clean,
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT_MS,
    ...(protocolVersion === 5 && !clean ? { properties: { sessionExpiryInterval: 300 } } : {}),
  });
  const received: Array<{ topic: string; payload: Buffer }> = [];
  client.on('message', (topic, payload) => received.push({ topic, payload }));
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      clearTimeout(timer);
      client.end(true);
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`no CONNACK within ${TIMEOUT_MS} ms`)), TIMEOUT_MS + 500);
    client.once('connect', (connack) => {
      clearTimeout(timer);
      resolve({ client, sessionPresent: connack.sessionPresent, received });
    });
    client.once('error', fail);
    client.once('close', () => fail(new Error('the broker closed the connection')));
  });
}

/** Resolves with the first message on `topic` (already `received` or coming), or undefined after `timeoutMs`. */
function nextMessage(
  client: MqttClient,
  topic: string,
  timeoutMs: number,
  received: ReadonlyArray<{ topic: string; payload: Buffer }> = [],
): Promise<Buffer | undefined> {
  const seen = received.find((m) => m.topic === topic);
  if (seen) return Promise.resolve(seen.payload);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      resolve(undefined);
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(payload);
    };
    client.on('message', onMessage);
  });
}

/** Connect, QoS 1 round trip, persistent session, persistence (see the module comment). */
export async function checkBroker(target: BrokerTarget): Promise<Finding[]> {
  if (target.source === 'none') {
    return [
      {
        check: 'broker',
        status: 'info',
        message:
          'no MQTT broker answers on 127.0.0.1:1883: the hub will start its embedded broker, which keeps requests in memory only (sent while the hub is down, they are lost)',
      },
    ];
  }
  const base = `tts_hub_doctor_${randomUUID().slice(0, 8)}`;
  let client: MqttClient;
  try {
    ({ client } = await connect(target, `${base}_rt`, true));
  } catch (err) {
    const message = (err as Error).message;
    const auth = /not authori[sz]ed|bad user ?name|password/i.test(message);
    return [
      {
        check: 'broker',
        status: 'fail',
        message: redactCredentials(`cannot connect to ${target.url} (${target.source}): ${message}`),
        fix: auth
          ? 'check mqtt.username and mqtt.password (empty inside Home Assistant: the Supervisor gives them)'
          : 'start the broker (the Mosquitto add-on in Home Assistant), or correct mqtt.url',
      },
    ];
  }
  const findings: Finding[] = [
    {
      check: 'broker',
      status: 'ok',
      message: redactCredentials(`connected to ${target.url} (${target.source})`),
    },
  ];
  try {
    findings.push(await roundTrip(client, base));
    findings.push(await sessionKept(target, client, base));
  } finally {
    await client.endAsync().catch(() => {});
  }
  findings.push(persistenceFinding(target));
  return findings;
}

async function roundTrip(client: MqttClient, base: string): Promise<Finding> {
  const topic = `${base}/echo`;
  await client.subscribeAsync(topic, { qos: 1 });
  const got = nextMessage(client, topic, TIMEOUT_MS);
  const t0 = performance.now();
  await client.publishAsync(topic, 'ping', { qos: 1 });
  const answer = await got;
  const ms = performance.now() - t0;
  if (!answer) {
    return {
      check: 'broker.round_trip',
      status: 'fail',
      message: `a QoS 1 message to ${topic} did not come back within ${TIMEOUT_MS} ms`,
      fix: "check the broker's ACL: the hub must be allowed to publish and subscribe its topics",
    };
  }
  const text = `a QoS 1 message made the round trip in ${ms.toFixed(1)} ms`;
  return ms > 250
    ? {
        check: 'broker.round_trip',
        status: 'warn',
        message: text,
        fix: 'the broker or the network to it is slow; use a broker near the hub',
      }
    : { check: 'broker.round_trip', status: 'ok', message: text };
}

/** A persistent session: subscribe, go away, a QoS 1 message is published, come back: is it there? */
async function sessionKept(target: BrokerTarget, publisher: MqttClient, base: string): Promise<Finding> {
  const id = `${base}_session`;
  const topic = `${base}/queued`;
  const first = await connect(target, id, false);
  await first.client.subscribeAsync(topic, { qos: 1 });
  await first.client.endAsync();
  await publisher.publishAsync(topic, 'queued while away', { qos: 1 });
  const again = await connect(target, id, false);
  const queued = await nextMessage(again.client, topic, 2000, again.received);
  await again.client.endAsync();
  // Remove the test session from the broker.
  await connect(target, id, true)
    .then(({ client }) => client.endAsync())
    .catch(() => {});
  if (again.sessionPresent && queued) {
    return {
      check: 'broker.session',
      status: 'ok',
      message:
        'keeps persistent sessions and queues QoS 1 messages for a client that is away (no request is lost while the hub restarts)',
    };
  }
  return {
    check: 'broker.session',
    status: 'warn',
    message: again.sessionPresent
      ? 'kept the session but not the QoS 1 message published while the client was away'
      : 'does not keep persistent sessions: requests published while the hub restarts are lost',
    fix: 'use a broker that keeps sessions for clean: false clients (mosquitto does; check persistent_client_expiration and max_queued_messages)',
  };
}

function persistenceFinding(target: BrokerTarget): Finding {
  const guess = guessPersistence(target.url, target.source);
  if (guess.state === 'on') {
    return {
      check: 'broker.persistence',
      status: 'ok',
      message: `writes sessions and queued messages to disk (${guess.how})`,
    };
  }
  if (guess.state === 'off' && target.source === 'embedded') {
    return {
      check: 'broker.persistence',
      status: 'info',
      message: `sessions do not survive a restart of the hub (${guess.how}); run mosquitto for at-least-once delivery across restarts`,
    };
  }
  if (guess.state === 'off') {
    return {
      check: 'broker.persistence',
      status: 'warn',
      message: `does not write sessions to disk: a broker restart loses queued requests (${guess.how})`,
      fix: 'set persistence true (and a persistence_location) in the mosquitto configuration and restart it',
    };
  }
  return {
    check: 'broker.persistence',
    status: 'info',
    message: `unknown whether the broker writes sessions to disk (${guess.how}); for mosquitto make sure its configuration has persistence true`,
  };
}
