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
import type { Log } from '../shared/log.js';
import { topicMatches } from './client.js';
import {
  type Entry,
  enqueue,
  type InboxState,
  oversized,
  pump,
  type Route,
  stopInbox,
} from './inbox-runner.js';
import type { InboxDepth, InboxMessage, RequestInbox } from './inbox-types.js';
import { deliveryKey, type JournaledRequest, type RequestJournal } from './request-journal.js';

export type { InboxContext, InboxDepth, InboxHandler, InboxMessage, RequestInbox } from './inbox-types.js';

/**
 * The `committed` of a request that is not journaled. One shared promise: an Error made per request (its stack
 * trace) cost more CPU than the rest of taking the request (issue 13).
 */
const NOT_JOURNALED: Promise<void> = Promise.reject(new Error('not journaled'));
NOT_JOURNALED.catch(() => {});

function routeFor(s: InboxState, topic: string): Route | undefined {
  return s.routes.find((r) => topicMatches(r.filter, topic));
}

/** Queues a request read from a journal (replayed); one whose topic is no longer subscribed is dropped. */
function enqueueRecord(s: InboxState, r: JournaledRequest): void {
  const route = routeFor(s, r.topic);
  if (!route) {
    s.log.warn({ topic: r.topic }, 'journaled request for a topic no longer subscribed; dropped');
    s.journal.done(r.seq);
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
  enqueue(s, { msg, route, record: r, targets: new Set(), committed: Promise.resolve(), ack: () => true });
}

/**
 * Takes a fresh request that arrived on broker session `session`: a redelivery of one already taken is only
 * acknowledged (once the original is on disk); any other is journaled when there is room (acknowledged once
 * committed) and queued. Nothing is taken, nor acknowledged, while stopping or before the journal is open.
 */
function accept(
  s: InboxState,
  route: Route,
  packet: IPublishPacket,
  ack: () => boolean,
  session: string,
): void {
  if (s.stopping || !s.opened) return; // not acknowledged: the broker keeps it for the next start
  const { topic } = packet;
  const payload = packet.payload as Buffer;
  const key = deliveryKey(session, topic, packet.messageId, payload);
  if (packet.dup && s.journal.knows(key)) {
    // A redelivery of a request already taken (its PUBACK was lost): acknowledge, never run it twice.
    const original = s.inMemory.get(key);
    if (original) void original.then(ack, () => {});
    else ack();
    s.log.info({ topic, messageId: packet.messageId }, 'redelivered request already taken; acknowledged');
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
  const e: Entry = { msg, route, targets: new Set(), committed: NOT_JOURNALED, ack };
  if (s.journal.pending() < s.maxPending && !oversized(route, payload)) {
    const { request, committed } = s.journal.add({ ...msg, key });
    e.record = request;
    e.committed = committed;
    s.inMemory.set(key, committed);
    committed.then(
      () => e.ack(),
      () => {
        // Not on disk: it stays unacknowledged at the broker until it is finished.
        e.record = undefined;
        s.inMemory.delete(key);
        s.journal.done(request.seq);
      },
    );
  }
  enqueue(s, e);
}

/** `RequestInbox.open()`: opens the journal and queues its unfinished requests. */
async function openInbox(s: InboxState): Promise<void> {
  const pending = await s.journal.open();
  s.opened = true;
  for (const r of pending) enqueueRecord(s, r);
  if (pending.length) s.log.info({ requests: pending.length }, 'replaying unfinished requests');
}

/** `RequestInbox.run()`: drops stolen replays (see there), then starts working. */
async function runInbox(s: InboxState): Promise<void> {
  if (await s.journal.stolen().catch(() => false)) {
    // Only what was replayed from the file goes: requests taken since were journaled here.
    const replayed = new Set<number>();
    for (const lane of [s.lanes.high, s.lanes.normal]) {
      for (const e of lane.filter((x) => x.msg.replayed)) {
        if (e.record) replayed.add(e.record.seq);
        lane.splice(lane.indexOf(e), 1);
      }
    }
    await s.journal.rebuild((r) => !replayed.has(r.seq));
    s.log.warn(
      { dropped: replayed.size },
      "another hub took over this hub's journal while it was away; that hub speaks those requests",
    );
  }
  s.started = true;
  pump(s);
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
  const s: InboxState = {
    journal,
    log,
    maxInFlight: opts.maxInFlight,
    maxPending: opts.maxPending,
    maxAttempts: opts.maxAttempts ?? 3,
    routes: [],
    lanes: { high: [], normal: [] },
    active: new Set(),
    inMemory: new Map(),
    running: 0,
    started: false,
    stopping: false,
    opened: false,
    idle: undefined,
  };
  return {
    async subscribe(bus, filter, handler, priorityOf = () => 'normal', limits = {}) {
      const maxPayloadBytes = limits.maxPayloadBytes ?? Number.POSITIVE_INFINITY;
      const route: Route = { filter, handler, priorityOf, maxPayloadBytes };
      s.routes.push(route);
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
          accept(s, route, packet, ack, opts.session);
        },
        { manualAck: true, share: true },
      );
    },
    filters: () => s.routes.map((r) => r.filter),
    takeMessage(packet, ack, session, theirs) {
      const route = routeFor(s, packet.topic);
      if (!route || packet.retain) return false;
      const key = deliveryKey(session, packet.topic, packet.messageId, packet.payload as Buffer);
      if (theirs.has(key)) {
        // That hub journaled it before it died; its journal (replay or takeover) runs it, not this copy.
        ack();
        return true;
      }
      accept(s, route, packet, ack, session);
      return true;
    },
    async takeJournal(path) {
      const taken = await journal.takeOver(path);
      for (const r of taken) enqueueRecord(s, r);
      return taken.length;
    },
    open: () => openInbox(s),
    run: () => runInbox(s),
    stop: (graceMs) => stopInbox(s, graceMs),
    depth: (): InboxDepth => ({
      running: s.running,
      queued: s.lanes.high.length + s.lanes.normal.length,
      journaled: journal.pending(),
    }),
  };
}
