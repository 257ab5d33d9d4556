/**
 * The request inbox's state and its worker (request-inbox.ts): priority lanes, `maxInFlight` requests at a time,
 * attempts counting, the delivery ledger, and the acknowledgement once a request is finished. Split from
 * `createRequestInbox` (issue 14); the delivery rules ("acknowledging is a promise") are described there.
 */
import type { DeliveryLedger } from '../say/types.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { InboxContext, InboxHandler, InboxMessage } from './inbox-types.js';
import type { JournaledRequest, RequestJournal } from './request-journal.js';

/** A subscribed filter and how its requests are handled. */
export interface Route {
  filter: string;
  handler: InboxHandler;
  priorityOf: (payload: Buffer) => 'high' | 'normal';
  /** Bytes; a bigger payload is neither journaled nor looked into for its priority. */
  maxPayloadBytes: number;
}

/** A request taken by the inbox (queued or running). */
export interface Entry {
  msg: InboxMessage;
  route: Route;
  /** The journal record; undefined when the journal was full or failed (then acked only when finished). */
  record?: JournaledRequest;
  /** Targets that have the audio, for a request that is not journaled. */
  targets: Set<string>;
  /** Resolves once the request is on disk; rejects when it is not journaled. */
  committed: Promise<void>;
  /** Sends the PUBACK (see `MessageHandler`); a no-op for a replayed request. */
  ack: () => boolean;
}

/** Everything one inbox holds; owned by one `createRequestInbox`, mutated by the functions here. */
export interface InboxState {
  readonly journal: RequestJournal;
  readonly log: Log;
  /** Requests worked on at once. */
  readonly maxInFlight: number;
  /** Unfinished requests the journal may hold; beyond it requests are acknowledged only when finished. */
  readonly maxPending: number;
  /** Starts of one journaled request before it is answered REQUEST_ABANDONED. */
  readonly maxAttempts: number;
  readonly routes: Route[];
  /** Requests waiting their turn, `high` ones taken first. */
  readonly lanes: Record<'high' | 'normal', Entry[]>;
  /** Abort controllers of the running requests. */
  readonly active: Set<AbortController>;
  /** Commit promises of requests in memory, by delivery key (a redelivery waits for the original's commit). */
  readonly inMemory: Map<string, Promise<void>>;
  /** Requests being worked on. */
  running: number;
  /** True once `run()` was called: nothing runs before. */
  started: boolean;
  /** True once `stop()` was called: nothing new is taken or started. */
  stopping: boolean;
  /** True once the journal is open: nothing is taken before. */
  opened: boolean;
  /** Called when the last running request ends (set by `stop()`). */
  idle: (() => void) | undefined;
}

/** The error a request started too often is answered with. */
function abandonedError(attempts: number): AppError {
  return new AppError(
    'REQUEST_ABANDONED',
    `the request was started ${attempts} times and the hub stopped or crashed each time before it finished; it is not run again (mqtt.max_attempts)`,
  );
}

/** True when `payload` is over the route's `maxPayloadBytes`. */
export function oversized(route: Route, payload: Buffer): boolean {
  return payload.length > route.maxPayloadBytes;
}

/** The ledger of `e`: the journal's target records, or an in-memory set for a request that is not journaled. */
function ledgerOf(s: InboxState, e: Entry): DeliveryLedger {
  return {
    ready: e.committed.catch(() => {}),
    delivered: (target) => (e.record ? e.record.targets.has(target) : e.targets.has(target)),
    record: (target) => {
      if (e.record)
        s.journal.target(e.record.seq, target).catch(() => {}); // logged by the journal
      else e.targets.add(target);
    },
    commit: async (target) => {
      if (e.record) await s.journal.target(e.record.seq, target).catch(() => {});
      else e.targets.add(target);
    },
    forget: (target) => {
      if (e.record) s.journal.untarget(e.record.seq, target);
      else e.targets.delete(target);
    },
  };
}

/** When `finished`: marks the request done in the journal and acknowledges it. */
function finish(s: InboxState, e: Entry, finished: boolean): void {
  if (!finished) return;
  if (e.record) {
    s.inMemory.delete(e.record.key);
    s.journal.done(e.record.seq);
  }
  e.ack();
}

/** Counts this start; the error to answer instead when the request was started too often already. */
async function countAttempt(s: InboxState, e: Entry): Promise<AppError | undefined> {
  if (!e.record) return undefined;
  if (e.record.attempts >= s.maxAttempts) return abandonedError(e.record.attempts);
  const written = s.journal.attempt(e.record.seq);
  // A replay must be counted on disk before it runs, or a request that kills the hub is never given up.
  if (e.msg.replayed) await written.catch(() => {});
  else written.catch(() => {});
  return undefined;
}

async function runEntry(s: InboxState, e: Entry): Promise<void> {
  const controller = new AbortController();
  s.active.add(controller);
  s.running++;
  try {
    const abandoned = await countAttempt(s, e);
    if (abandoned) s.log.error({ topic: e.msg.topic, attempts: e.record?.attempts }, 'request abandoned');
    const ctx: InboxContext = {
      signal: controller.signal,
      ledger: ledgerOf(s, e),
      stopping: () => s.stopping,
      ...(abandoned ? { abandoned } : {}),
    };
    const finished = await e.route.handler(e.msg, ctx);
    finish(s, e, finished && !controller.signal.aborted);
  } catch (err) {
    // A handler bug must not replay the request forever: take it as finished.
    s.log.error({ err, topic: e.msg.topic }, 'request handler threw');
    finish(s, e, true);
  } finally {
    s.active.delete(controller);
    s.running--;
    if (s.running === 0) s.idle?.();
    pump(s);
  }
}

/** Starts queued requests (high lane first) while the inbox runs and fewer than `maxInFlight` are running. */
export function pump(s: InboxState): void {
  while (s.started && !s.stopping && s.running < s.maxInFlight) {
    const e = s.lanes.high.shift() ?? s.lanes.normal.shift();
    if (!e) return;
    void runEntry(s, e);
  }
}

/** Queues `e` in its lane (an oversized payload is not looked into: normal) and starts what may start. */
export function enqueue(s: InboxState, e: Entry): void {
  const lane = oversized(e.route, e.msg.payload) ? 'normal' : e.route.priorityOf(e.msg.payload);
  s.lanes[lane].push(e);
  pump(s);
}

/**
 * `RequestInbox.stop(graceMs)`: takes nothing new, waits up to `graceMs` for running requests, aborts the rest
 * (SHUTTING_DOWN) and waits up to 2000 ms more for them, then closes the journal.
 */
export async function stopInbox(s: InboxState, graceMs: number): Promise<void> {
  s.stopping = true;
  if (s.running > 0) {
    const settled = new Promise<void>((r) => {
      s.idle = r;
    });
    const grace = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([settled, grace]);
    for (const c of s.active) c.abort(new AppError('SHUTTING_DOWN', 'the hub is stopping'));
    // A handler that ignores its abort must not hold the stop forever.
    await Promise.race([settled, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
  }
  await s.journal.close();
}
