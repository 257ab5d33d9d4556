/**
 * An engine's instances and its one waiting queue. Each instance (`url`, then `urls`) has its own breaker and
 * `max_parallel` slots; a request waits in the engine's queue (`high` before every `normal`, first come first
 * served within a priority) and is given the first instance that has a free slot, chosen by the engine's
 * balance: least outstanding requests (weighted: running ÷ weight), or smooth weighted round robin (the
 * algorithm nginx uses for `upstream` weights). An instance whose breaker is open is skipped; when every
 * instance a request may still use is out of service, the request is refused at once so the fallback chain
 * can take it. Why not p-queue (issue 14 asked): it has priorities, FIFO within one and per-task abort, but one
 * global concurrency count: no instances to hand a waiter, no skipping a waiter whose allowed instances are busy
 * for a later one that can run, no capacity that follows the breakers, and its `timeout` starts when a task runs,
 * not while it waits (a deadline here applies in the queue). One p-queue per instance would lose the engine-wide
 * order. Hence this module and its queue, `engine-pool-queue.ts`.
 */
import type { Engine, Priority } from './engine.js';
import { createEngineBreaker, type EngineBreaker } from './engine-breaker.js';
import {
  acquire,
  activeCount,
  createPoolQueue,
  inService,
  pump,
  queuedCount,
  type Slot,
} from './engine-pool-queue.js';

/** How requests are spread over an engine's instances (`engines[].balance`). */
export type Balance = 'least_outstanding' | 'round_robin';

/** One instance of an engine. */
export interface EngineInstance {
  /** Position among the engine's instances (0 is `url`). */
  readonly index: number;
  /** The address shown in the API, metrics and logs: the URL without credentials, or `local` for a CLI engine. */
  readonly endpoint: string;
  /** The engine client talking to this instance (named like the engine). */
  readonly engine: Engine;
  /** Relative share (`engines[].weights`), default 1. */
  readonly weight: number;
  readonly breaker: EngineBreaker;
  /** Requests running on it now. */
  readonly active: number;
  /** Requests it was given since start. */
  readonly served: number;
}

/** What `acquire` gives: the instance, and the function that frees its slot (calling it twice does nothing). */
export interface PoolGrant {
  instance: EngineInstance;
  /**
   * True when the slot was given as its instance's half-open trial (breaker not closed): the dispatcher then
   * keeps it until the outcome is known, never frees it early (another caller would otherwise take a second
   * trial that the breaker refuses).
   */
  readonly trial: boolean;
  release(): void;
}

/** Options of one `acquire`. */
export interface AcquireOptions {
  priority: Priority;
  /** Aborting removes the request from the queue and rejects with the signal's reason. */
  signal: AbortSignal;
  /** Instance indexes this request must not use (they already failed it). */
  exclude?: ReadonlySet<number>;
  /**
   * `performance.now()` ms after which a request still waiting gives up with ENGINE_UNAVAILABLE
   * (`details.busy`); undefined: it waits until granted, refused or aborted.
   */
  giveUpAt?: number;
}

/** An engine's instances and queue (see the module comment). */
export interface EnginePool {
  readonly name: string;
  readonly instances: readonly EngineInstance[];
  /** Slots per instance (`max_parallel`). */
  readonly maxParallel: number;
  /** Requests running, over all instances. */
  readonly active: number;
  /** Requests waiting for a slot. */
  readonly queued: number;
  /** True when an instance not in `exclude` can take requests now or once its slots free (breaker not open). */
  inService(exclude?: ReadonlySet<number>): boolean;
  /**
   * Resolves with an instance once one has a free slot (see AcquireOptions).
   * @throws AppError ENGINE_UNAVAILABLE: every usable instance is out of service (`details.breaker`), at once or
   *   while waiting; or `giveUpAt` passed (`details.busy`). The abort reason when `signal` aborts.
   */
  acquire(opts: AcquireOptions): Promise<PoolGrant>;
}

/** How an instance is made: its engine client, address and weight. */
export interface PoolInstanceSpec {
  engine: Engine;
  /** Its URL (credentials are removed for display), or undefined for a local CLI engine. */
  url: string | undefined;
  weight?: number;
}

/** Options of {@link createEnginePool}. */
export interface EnginePoolOptions {
  name: string;
  instances: readonly PoolInstanceSpec[];
  maxParallel: number;
  balance?: Balance;
  /** Breaker of each instance: faults in a row that open it, and ms until its half-open trial. */
  breakerFailures: number;
  breakerResetMs: number;
}

/** A URL without user name and password, for display; `local` for none. */
export function endpointOf(url: string | undefined): string {
  if (!url) return 'local';
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/** An instance's record: its client, address, weight and breaker, with zeroed counters. */
function createSlot(opts: EnginePoolOptions, spec: PoolInstanceSpec, index: number): Slot {
  const endpoint = endpointOf(spec.url);
  return {
    index,
    endpoint,
    engine: spec.engine,
    weight: spec.weight ?? 1,
    breaker: createEngineBreaker({
      engine: opts.name,
      ...(opts.instances.length > 1 ? { instance: endpoint } : {}),
      failures: opts.breakerFailures,
      resetMs: opts.breakerResetMs,
    }),
    active: 0,
    served: 0,
    trialing: false,
    current: 0,
  };
}

/** Builds the pool of one engine. Nothing is contacted. */
export function createEnginePool(opts: EnginePoolOptions): EnginePool {
  const { maxParallel } = opts;
  const slots = opts.instances.map((spec, index) => createSlot(opts, spec, index));
  const queue = createPoolQueue(opts.name, slots, maxParallel, opts.balance ?? 'least_outstanding');
  for (const s of slots) s.breaker.onChange(() => pump(queue));
  return {
    name: opts.name,
    instances: slots,
    maxParallel,
    get active() {
      return activeCount(queue);
    },
    get queued() {
      return queuedCount(queue);
    },
    inService: (exclude) => inService(queue, exclude),
    acquire: (acquireOpts) => acquire(queue, acquireOpts),
  };
}
