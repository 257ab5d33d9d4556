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
 * order. Hence this module.
 */
import { performance } from 'node:perf_hooks';
import { AppError } from '../shared/errors.js';
import type { Engine, Priority } from './engine.js';
import { createEngineBreaker, type EngineBreaker } from './engine-breaker.js';

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

interface Slot extends EngineInstance {
  active: number;
  served: number;
  /** A half-open trial was given to a request and has not ended. */
  trialing: boolean;
  /** Smooth weighted round robin: the running weight. */
  current: number;
}

interface Waiter {
  exclude: ReadonlySet<number> | undefined;
  grant(slot: Slot): void;
  fail(err: unknown): void;
}

const NONE: ReadonlySet<number> = new Set();

/** Builds the pool of one engine. Nothing is contacted. */
export function createEnginePool(opts: EnginePoolOptions): EnginePool {
  const { maxParallel } = opts;
  const balance = opts.balance ?? 'least_outstanding';
  const several = opts.instances.length > 1;
  const slots: Slot[] = opts.instances.map((spec, index) => {
    const endpoint = endpointOf(spec.url);
    return {
      index,
      endpoint,
      engine: spec.engine,
      weight: spec.weight ?? 1,
      breaker: createEngineBreaker({
        engine: opts.name,
        ...(several ? { instance: endpoint } : {}),
        failures: opts.breakerFailures,
        resetMs: opts.breakerResetMs,
      }),
      active: 0,
      served: 0,
      trialing: false,
      current: 0,
    };
  });
  const queues: Record<Priority, Waiter[]> = { high: [], normal: [] };

  /** Can take a request now or after its running ones: breaker closed, or a trial due that nobody holds. */
  const usable = (s: Slot): boolean =>
    s.breaker.state() === 'closed' || (s.breaker.admits() && !s.trialing && s.active === 0);
  const allowed = (s: Slot, exclude: ReadonlySet<number>): boolean => !exclude.has(s.index);
  const inService = (exclude: ReadonlySet<number> = NONE): boolean =>
    slots.some((s) => allowed(s, exclude) && usable(s));

  function pick(exclude: ReadonlySet<number>): Slot | undefined {
    const free = slots.filter((s) => allowed(s, exclude) && usable(s) && s.active < maxParallel);
    if (free.length <= 1) return free[0];
    if (balance === 'round_robin') {
      const total = free.reduce((sum, s) => sum + s.weight, 0);
      let best = free[0] as Slot;
      for (const s of free) {
        s.current += s.weight;
        if (s.current > best.current) best = s;
      }
      best.current -= total;
      return best;
    }
    // Least outstanding: fewest running per unit of weight; ties go to the one that served least so far.
    const load = (s: Slot): number => (s.active + 1) / s.weight;
    return free.reduce((best, s) => {
      const d = load(s) - load(best);
      return d < 0 || (d === 0 && s.served / s.weight < best.served / best.weight) ? s : best;
    });
  }

  function downError(exclude: ReadonlySet<number>): AppError {
    const left = slots.filter((s) => allowed(s, exclude));
    if (left.length === 1) return (left[0] as Slot).breaker.skipError();
    const reasons = left.map((s) => `${s.endpoint}: ${s.breaker.lastError ?? 'out of service'}`);
    return new AppError(
      'ENGINE_UNAVAILABLE',
      `every instance of engine '${opts.name}' is out of service (${reasons.join('; ')})`,
      { details: { engine: opts.name, breaker: 'open' } },
    );
  }

  let pumping = false;
  let again = false;
  /** Grants free slots to waiters in order; refuses waiters left with no instance in service. */
  function pump(): void {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (const queue of [queues.high, queues.normal]) {
          for (let i = 0; i < queue.length; ) {
            const w = queue[i] as Waiter;
            const exclude = w.exclude ?? NONE;
            const slot = inService(exclude) ? pick(exclude) : undefined;
            if (slot) {
              queue.splice(i, 1);
              w.grant(slot);
            } else if (!inService(exclude)) {
              queue.splice(i, 1);
              w.fail(downError(exclude));
            } else i++;
          }
        }
      } while (again);
    } finally {
      pumping = false;
    }
  }
  for (const s of slots) s.breaker.onChange(() => pump());

  const take = (slot: Slot): PoolGrant => {
    slot.active++;
    slot.served++;
    if (slot.breaker.state() !== 'closed') slot.trialing = true;
    let released = false;
    return {
      instance: slot,
      release() {
        if (released) return;
        released = true;
        slot.active--;
        slot.trialing = false;
        pump();
      },
    };
  };

  const pool: EnginePool = {
    name: opts.name,
    instances: slots,
    maxParallel,
    get active() {
      return slots.reduce((n, s) => n + s.active, 0);
    },
    get queued() {
      return queues.high.length + queues.normal.length;
    },
    inService,
    acquire({ priority, signal, exclude, giveUpAt }) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (!inService(exclude)) return Promise.reject(downError(exclude ?? NONE));
      return new Promise<PoolGrant>((resolve, reject) => {
        const queue = queues[priority];
        let timer: NodeJS.Timeout | undefined;
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        };
        const leave = (err: unknown): void => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          done();
          reject(err);
        };
        const onAbort = (): void => leave(signal.reason);
        const waiter: Waiter = {
          exclude,
          grant(slot) {
            done();
            resolve(take(slot));
          },
          fail(err) {
            done();
            reject(err);
          },
        };
        queue.push(waiter);
        signal.addEventListener('abort', onAbort, { once: true });
        pump();
        if (giveUpAt === undefined || !queue.includes(waiter)) return;
        const busy = (): void =>
          leave(
            new AppError(
              'ENGINE_UNAVAILABLE',
              `engine '${opts.name}' is busy (${pool.active} running on ${slots.length} instance(s), ` +
                `${pool.queued} waiting); waiting longer would leave too little of the deadline for the fallback`,
              { details: { engine: opts.name, busy: true } },
            ),
          );
        const wait = giveUpAt - performance.now();
        if (wait <= 0) busy();
        else timer = setTimeout(busy, wait);
      });
    },
  };
  return pool;
}
