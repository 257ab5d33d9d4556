/**
 * Taking over a dead hub's broker session, so the requests the broker holds for it reach a live hub.
 *
 * Why it is needed (read in eclipse/mosquitto 2.0, `src/subs.c` `subs__shared_process` and `src/context.c`
 * `context__disconnect`; the same behaviour was measured against mosquitto 2.0.11, see the note of issue 15):
 * - a shared subscription sends each message to the next member in turn, whether that member is connected or
 *   not; a hub with a persistent session that died keeps getting its share, queued in its session until it
 *   comes back or the session expires;
 * - a session that ends (expiry 0) is freed with its queued and unacknowledged messages: mosquitto does not
 *   hand them to another member of the group (MQTT 5 §4.8.2 only says it SHOULD).
 * So hubs keep persistent sessions (nothing is dropped), and when one dies another hub connects with the dead
 * hub's client id, resuming its session: the broker sends it everything queued and unacknowledged. The taker
 * journals and acknowledges each request, unsubscribes the dead hub's shared filters (the broker has sent
 * everything queued before its UNSUBACK, in order on one connection), waits until every PUBACK is out, and
 * disconnects with session expiry 0, which ends the session and removes it from the share group.
 *
 * If the dead hub comes back meanwhile, its CONNECT takes the session over again (the broker closes the
 * taker's connection): what the taker journaled is the taker's, everything else is redelivered to the hub.
 */
import mqtt, { type IPublishPacket, type Packet } from 'mqtt';
import type { Log } from '../shared/log.js';
import type { RequestInbox } from './inbox-types.js';
import { holdAcks, sendPuback } from './manual-ack.js';

/** What a takeover did. */
export interface TakeoverOutcome {
  /** The broker still had a session for that client id. */
  sessionPresent: boolean;
  /** Requests taken into this hub's journal (or acknowledged because that hub's journal holds them). */
  taken: number;
  /** Other queued messages acknowledged and dropped (recorder audio, commands meant for the dead hub). */
  dropped: number;
  /** True when the session was ended; false when the dead hub came back first or the broker failed. */
  ended: boolean;
}

/** Options of {@link takeOverSession}. */
export interface SessionTakeoverOptions {
  url: string;
  username?: string;
  password?: string;
  /** The dead hub's client id. */
  clientId: string;
  /** The dead hub's shared subscriptions (`$share/<group>/<filter>`), left before the session ends. */
  sharedFilters: string[];
  /** Keys of the requests the dead hub's journal holds (journal-file.ts `journalKeys`). */
  theirKeys: ReadonlySet<string>;
  inbox: Pick<RequestInbox, 'takeMessage'>;
  /** Give up after this many ms (default 10 000). */
  timeoutMs?: number;
  log: Log;
}

/** The session expiry the taker asks for at connect; the DISCONNECT sets 0 (allowed only after a non-zero one). */
const TAKER_SESSION_EXPIRY_S = 60;

/** Resumes the dead hub's session, takes its requests and ends the session (see the module comment). */
export async function takeOverSession(opts: SessionTakeoverOptions): Promise<TakeoverOutcome> {
  const { log } = opts;
  const outcome: TakeoverOutcome = { sessionPresent: false, taken: 0, dropped: 0, ended: false };
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: TAKER_SESSION_EXPIRY_S, receiveMaximum: 65535 },
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  let received = 0;
  let acknowledged = 0;
  let closed = false;
  client.on('close', () => {
    closed = true;
  });
  client.on('error', (err) =>
    log.warn({ hub: opts.clientId, err: err.message }, 'takeover connection error'),
  );
  client.on('packetreceive', (p: Packet) => {
    if (p.cmd === 'connack') outcome.sessionPresent = p.sessionPresent === true;
  });
  holdAcks(client, () => true);
  client.on('message', (_topic, _payload, packet: IPublishPacket) => {
    let done = false;
    const ack = (): boolean => {
      if (done) return true;
      if (!client.connected || packet.messageId === undefined) return false;
      done = true;
      acknowledged++;
      sendPuback(client, packet.messageId);
      return true;
    };
    if (packet.qos !== 1) return;
    received++;
    if (opts.inbox.takeMessage(packet, ack, opts.clientId, opts.theirKeys)) outcome.taken++;
    else {
      outcome.dropped++;
      ack();
    }
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const until = async (check: () => boolean): Promise<boolean> => {
    while (!check()) {
      if (closed || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  };
  try {
    if (!(await until(() => client.connected))) return outcome;
    if (opts.sharedFilters.length) await client.unsubscribeAsync(opts.sharedFilters);
    // Everything the broker had for the session arrived before the UNSUBACK; now wait for the PUBACKs.
    if (!(await until(() => acknowledged >= received))) return outcome;
    await client.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    outcome.ended = true;
    return outcome;
  } catch (err) {
    log.warn({ hub: opts.clientId, err: (err as Error).message }, 'session takeover failed');
    return outcome;
  } finally {
    if (!outcome.ended) client.end(true);
  }
}
