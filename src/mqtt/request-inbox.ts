/**
 * At-least-once intake of MQTT requests (`tts/say`, `hermes/tts/say`, the notify entity's topic), after
 * DESIGN "Delivery and limits": a QoS 1 request is acknowledged (PUBACK) once it is in the request journal
 * (fdatasync, group commit), or once it is finished if it could not be journaled. A crash or stop after that
 * loses nothing: unfinished requests are replayed from the journal at the next start. While the hub stops it
 * takes nothing new (no PUBACK, so the broker keeps the message for the next start or another hub).
 *
 * Requests are worked on `maxInFlight` at a time (`priority: "high"` ones first); the others wait in the
 * journal. A redelivery (DUP) of a request already taken is acknowledged and not run again; a target that got
 * the audio before a restart is not played again (the journal's target records, see `DeliveryLedger`).
 */

import type { IPublishPacket } from 'mqtt';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { DeliveryLedger } from '../tts/say-types.js';
import { type MqttBus, topicMatches } from './client.js';
import { deliveryKey, type JournaledRequest, type RequestJournal } from './request-journal.js';

/** A request as its handler sees it (fresh or replayed from the journal). */
export interface InboxMessage {
  topic: string;
  payload: Buffer;
  /** MQTT 5 response topic and correlation data of the original publish. */
  responseTopic?: string;
  correlationData?: Buffer;
  /** True when it comes from the journal after a restart. */
  replayed: boolean;
  /** ms since the epoch when the hub took it (before a restart, for a replayed one). */
  receivedAt: number;
  /** MQTT 5 message expiry interval the broker forwarded (seconds left at arrival), when the publish had one. */
  expiryS?: number;
}

/** What a handler gets besides the message. */
export interface InboxContext {
  /** Aborts when the hub's grace time is over. */
  signal: AbortSignal;
  /** What the request's targets already got (a replay does not play them again). */
  ledger: DeliveryLedger;
  /** True once the hub is stopping: a failure then is left for the next start, not answered. */
  stopping(): boolean;
}

/**
 * Works on one request and answers it. Resolves true when it is finished (answered, or refused with an
 * error result), false when it was left unfinished because the hub is stopping: then it must not have
 * answered, and it is replayed at the next start.
 */
export type InboxHandler = (msg: InboxMessage, ctx: InboxContext) => Promise<boolean>;

/** Figures for status and health. */
export interface InboxDepth {
  /** Requests being worked on. */
  running: number;
  /** Requests waiting their turn. */
  queued: number;
  /** Unfinished requests in the journal (running and waiting). */
  journaled: number;
}

/** The inbox. */
export interface RequestInbox {
  /**
   * Subscribes `filter` (QoS 1, manual PUBACK) and routes its messages to `handler`. Call before `open()`.
   * A message over `limits.maxPayloadBytes` is neither journaled nor looked into for its priority: it goes
   * straight to the handler, which refuses it (PAYLOAD_TOO_LARGE), and is acknowledged then.
   */
  subscribe(
    bus: MqttBus,
    filter: string,
    handler: InboxHandler,
    priorityOf?: (payload: Buffer) => 'high' | 'normal',
    limits?: { maxPayloadBytes?: number | undefined },
  ): Promise<void>;
  /** Opens the journal and queues its unfinished requests; nothing runs before `run()`. */
  open(): Promise<void>;
  /** Starts working (call once the bus is connected, so answers can be published). */
  run(): void;
  /**
   * Takes nothing new, lets running requests finish within `graceMs`, then aborts the rest (they stay in the
   * journal) and closes the journal.
   */
  stop(graceMs: number): Promise<void>;
  depth(): InboxDepth;
}

interface Route {
  filter: string;
  handler: InboxHandler;
  priorityOf: (payload: Buffer) => 'high' | 'normal';
  maxPayloadBytes: number;
}

interface Entry {
  msg: InboxMessage;
  route: Route;
  /** The journal record; undefined when the journal was full or failed (then acked only when finished). */
  record?: JournaledRequest;
  /** Targets that have the audio, for a request that is not journaled. */
  targets: Set<string>;
  committed: Promise<void>;
  ack: () => boolean;
}

/** Creates the inbox over `journal`. */
export function createRequestInbox(opts: {
  journal: RequestJournal;
  /** Requests worked on at once. */
  maxInFlight: number;
  /** Unfinished requests the journal holds; beyond it requests are acknowledged only when finished. */
  maxPending: number;
  log: Log;
}): RequestInbox {
  const { journal, log } = opts;
  const routes: Route[] = [];
  const lanes: Record<'high' | 'normal', Entry[]> = { high: [], normal: [] };
  const active = new Set<AbortController>();
  /** Commit promises of requests in memory, by delivery key (a redelivery waits for the original's commit). */
  const inMemory = new Map<string, Promise<void>>();
  let running = 0;
  let started = false;
  let stopping = false;
  let opened = false;
  let idle: (() => void) | undefined;

  const routeFor = (topic: string): Route | undefined => routes.find((r) => topicMatches(r.filter, topic));

  const ledgerOf = (e: Entry): DeliveryLedger => ({
    ready: e.committed.catch(() => {}),
    delivered: (target) => (e.record ? e.record.targets.has(target) : e.targets.has(target)),
    record: (target) => {
      if (e.record) journal.target(e.record.seq, target);
      else e.targets.add(target);
    },
  });

  const finish = (e: Entry, finished: boolean): void => {
    if (!finished) return;
    if (e.record) {
      inMemory.delete(e.record.key);
      journal.done(e.record.seq);
    }
    e.ack();
  };

  const runEntry = async (e: Entry): Promise<void> => {
    const controller = new AbortController();
    active.add(controller);
    running++;
    try {
      const ctx: InboxContext = { signal: controller.signal, ledger: ledgerOf(e), stopping: () => stopping };
      const finished = await e.route.handler(e.msg, ctx);
      finish(e, finished && !controller.signal.aborted);
    } catch (err) {
      // A handler bug must not replay the request forever: take it as finished.
      log.error({ err, topic: e.msg.topic }, 'request handler threw');
      finish(e, true);
    } finally {
      active.delete(controller);
      running--;
      if (running === 0) idle?.();
      pump();
    }
  };

  const pump = (): void => {
    while (started && !stopping && running < opts.maxInFlight) {
      const e = lanes.high.shift() ?? lanes.normal.shift();
      if (!e) return;
      void runEntry(e);
    }
  };

  const oversized = (route: Route, payload: Buffer): boolean => payload.length > route.maxPayloadBytes;

  const enqueue = (e: Entry): void => {
    const lane = oversized(e.route, e.msg.payload) ? 'normal' : e.route.priorityOf(e.msg.payload);
    lanes[lane].push(e);
    pump();
  };

  const accept = (route: Route, payload: Buffer, packet: IPublishPacket, ack: () => boolean): void => {
    if (stopping || !opened) return; // not acknowledged: the broker keeps it for the next start
    const topic = packet.topic;
    const key = deliveryKey(topic, packet.messageId, payload);
    if (packet.dup && journal.knows(key)) {
      // A redelivery of a request already taken (its PUBACK was lost): acknowledge, never run it twice.
      const original = inMemory.get(key);
      if (original) void original.then(ack, () => {});
      else ack();
      log.info({ topic, messageId: packet.messageId }, 'redelivered request already taken; acknowledged');
      return;
    }
    const msg: InboxMessage = {
      topic,
      payload,
      responseTopic: packet.properties?.responseTopic,
      correlationData: packet.properties?.correlationData,
      replayed: false,
      receivedAt: Date.now(),
      expiryS: packet.properties?.messageExpiryInterval,
    };
    const e: Entry = {
      msg,
      route,
      targets: new Set(),
      committed: Promise.reject(new Error('not journaled')),
      ack,
    };
    e.committed.catch(() => {});
    if (journal.pending() < opts.maxPending && !oversized(route, payload)) {
      const { request, committed } = journal.add({ ...msg, key });
      e.record = request;
      e.committed = committed;
      inMemory.set(key, committed);
      committed.then(
        () => e.ack(),
        () => {
          // Not on disk: it stays unacknowledged at the broker until it is finished.
          e.record = undefined;
          inMemory.delete(key);
          journal.done(request.seq);
        },
      );
    }
    enqueue(e);
  };

  return {
    async subscribe(bus, filter, handler, priorityOf = () => 'normal', limits = {}) {
      const maxPayloadBytes = limits.maxPayloadBytes ?? Number.POSITIVE_INFINITY;
      const route: Route = { filter, handler, priorityOf, maxPayloadBytes };
      routes.push(route);
      await bus.subscribe(
        filter,
        1,
        (_topic, payload, packet, ack) => {
          if (packet.retain) {
            // An old retained request must not speak again at every connect.
            log.warn({ topic: packet.topic }, 'retained request ignored; publish requests without retain');
            ack();
            return;
          }
          accept(route, payload, packet, ack);
        },
        { manualAck: true },
      );
    },
    async open() {
      const pending = await journal.open();
      opened = true;
      for (const r of pending) {
        const route = routeFor(r.topic);
        if (!route) {
          log.warn({ topic: r.topic }, 'journaled request for a topic no longer subscribed; dropped');
          journal.done(r.seq);
          continue;
        }
        const msg: InboxMessage = {
          topic: r.topic,
          payload: r.payload,
          responseTopic: r.responseTopic,
          correlationData: r.correlationData,
          replayed: true,
          receivedAt: r.receivedAt,
          expiryS: r.expiryS,
        };
        enqueue({ msg, route, record: r, targets: new Set(), committed: Promise.resolve(), ack: () => true });
      }
      if (pending.length) log.info({ requests: pending.length }, 'replaying unfinished requests');
    },
    run() {
      started = true;
      pump();
    },
    async stop(graceMs) {
      stopping = true;
      if (running > 0) {
        const settled = new Promise<void>((r) => {
          idle = r;
        });
        const grace = new Promise<void>((r) => setTimeout(r, graceMs).unref());
        await Promise.race([settled, grace]);
        for (const c of active) c.abort(new AppError('SHUTTING_DOWN', 'the hub is stopping'));
        // A handler that ignores its abort must not hold the stop forever.
        await Promise.race([settled, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
      }
      await journal.close();
    },
    depth: () => ({
      running,
      queued: lanes.high.length + lanes.normal.length,
      journaled: journal.pending(),
    }),
  };
}
