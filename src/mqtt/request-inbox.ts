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
 * Every start of a journaled request is counted; one started `maxAttempts` times is answered REQUEST_ABANDONED
 * instead of being run again, so a request that kills the hub cannot keep it in a crash loop.
 *
 * Several hubs (issue 15): requests can also come from a dead hub's broker session (`takeMessage`) or journal
 * (`takeJournal`); see hub-takeover.ts.
 */

import type { IPublishPacket } from 'mqtt';
import type { DeliveryLedger } from '../say/types.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { topicMatches } from './client.js';
import type { InboxContext, InboxDepth, InboxHandler, InboxMessage, RequestInbox } from './inbox-types.js';
import { deliveryKey, type JournaledRequest, type RequestJournal } from './request-journal.js';

export type { InboxContext, InboxDepth, InboxHandler, InboxMessage, RequestInbox } from './inbox-types.js';

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

/** The error a request started too often is answered with. */
function abandonedError(attempts: number): AppError {
  return new AppError(
    'REQUEST_ABANDONED',
    `the request was started ${attempts} times and the hub stopped or crashed each time before it finished; it is not run again (mqtt.max_attempts)`,
  );
}

/** Creates the inbox over `journal`. */
export function createRequestInbox(opts: {
  journal: RequestJournal;
  /** This hub's MQTT client id: delivery keys name the session a message came in on. */
  session: string;
  /** Requests worked on at once. */
  maxInFlight: number;
  /** Unfinished requests the journal holds; beyond it requests are acknowledged only when finished. */
  maxPending: number;
  /** Starts of one journaled request before it is answered REQUEST_ABANDONED (`mqtt.max_attempts`). */
  maxAttempts?: number;
  log: Log;
}): RequestInbox {
  const { journal, log } = opts;
  const maxAttempts = opts.maxAttempts ?? 3;
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
      if (e.record)
        journal.target(e.record.seq, target).catch(() => {}); // logged by the journal
      else e.targets.add(target);
    },
    commit: async (target) => {
      if (e.record) await journal.target(e.record.seq, target).catch(() => {});
      else e.targets.add(target);
    },
    forget: (target) => {
      if (e.record) journal.untarget(e.record.seq, target);
      else e.targets.delete(target);
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

  /** Counts this start; the error to answer instead when the request was started too often already. */
  const countAttempt = async (e: Entry): Promise<AppError | undefined> => {
    if (!e.record) return undefined;
    if (e.record.attempts >= maxAttempts) return abandonedError(e.record.attempts);
    const written = journal.attempt(e.record.seq);
    // A replay must be counted on disk before it runs, or a request that kills the hub is never given up.
    if (e.msg.replayed) await written.catch(() => {});
    else written.catch(() => {});
    return undefined;
  };

  const runEntry = async (e: Entry): Promise<void> => {
    const controller = new AbortController();
    active.add(controller);
    running++;
    try {
      const abandoned = await countAttempt(e);
      if (abandoned) log.error({ topic: e.msg.topic, attempts: e.record?.attempts }, 'request abandoned');
      const ctx: InboxContext = {
        signal: controller.signal,
        ledger: ledgerOf(e),
        stopping: () => stopping,
        ...(abandoned ? { abandoned } : {}),
      };
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

  const enqueueRecord = (r: JournaledRequest): void => {
    const route = routeFor(r.topic);
    if (!route) {
      log.warn({ topic: r.topic }, 'journaled request for a topic no longer subscribed; dropped');
      journal.done(r.seq);
      return;
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
  };

  const accept = (route: Route, packet: IPublishPacket, ack: () => boolean, session: string): void => {
    if (stopping || !opened) return; // not acknowledged: the broker keeps it for the next start
    const { topic } = packet;
    const payload = packet.payload as Buffer;
    const key = deliveryKey(session, topic, packet.messageId, payload);
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
        (_topic, _payload, packet, ack) => {
          if (packet.retain) {
            // An old retained request must not speak again at every connect.
            log.warn({ topic: packet.topic }, 'retained request ignored; publish requests without retain');
            ack();
            return;
          }
          accept(route, packet, ack, opts.session);
        },
        { manualAck: true, share: true },
      );
    },
    filters: () => routes.map((r) => r.filter),
    takeMessage(packet, ack, session, theirs) {
      const route = routeFor(packet.topic);
      if (!route || packet.retain) return false;
      const key = deliveryKey(session, packet.topic, packet.messageId, packet.payload as Buffer);
      if (theirs.has(key)) {
        // That hub journaled it before it died; its journal (replay or takeover) runs it, not this copy.
        ack();
        return true;
      }
      accept(route, packet, ack, session);
      return true;
    },
    async takeJournal(path) {
      const taken = await journal.takeOver(path);
      for (const r of taken) enqueueRecord(r);
      return taken.length;
    },
    async open() {
      const pending = await journal.open();
      opened = true;
      for (const r of pending) enqueueRecord(r);
      if (pending.length) log.info({ requests: pending.length }, 'replaying unfinished requests');
    },
    async run() {
      if (await journal.stolen().catch(() => false)) {
        // Only what was replayed from the file goes: requests taken since were journaled here.
        const replayed = new Set<number>();
        for (const lane of [lanes.high, lanes.normal]) {
          for (const e of lane.filter((x) => x.msg.replayed)) {
            if (e.record) replayed.add(e.record.seq);
            lane.splice(lane.indexOf(e), 1);
          }
        }
        await journal.rebuild((r) => !replayed.has(r.seq));
        log.warn(
          { dropped: replayed.size },
          "another hub took over this hub's journal while it was away; that hub speaks those requests",
        );
      }
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
    depth: (): InboxDepth => ({
      running,
      queued: lanes.high.length + lanes.normal.length,
      journaled: journal.pending(),
    }),
  };
}
