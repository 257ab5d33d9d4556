/**
 * The waiting queue of one engine's pool and the pump that hands its free slots to waiters (see the module comment
 * of `engine-pool.ts` for the rules: priority order, first come first served within one, skipping of out-of-service
 * instances, the balance between instances, and the give-up time while queued).
 */
import { performance } from 'node:perf_hooks';
import { AppError } from '../shared/errors.js';
import type { Priority } from './engine.js';
import type { AcquireOptions, Balance, EngineInstance, PoolGrant } from './engine-pool.js';

/** One instance with its mutable counters, as the queue sees it (the pool exposes it as an `EngineInstance`). */
export interface Slot extends EngineInstance {
  active: number;
  served: number;
  /** A half-open trial was given to a request and has not ended. */
  trialing: boolean;
  /** Smooth weighted round robin: the running weight. */
  current: number;
}

/** A request waiting for a slot. */
interface Waiter {
  exclude: ReadonlySet<number> | undefined;
  grant(slot: Slot): void;
  fail(err: unknown): void;
}

/** One pool's queue state: its instances, limits, the waiters per priority and the pump's re-entry flags. */
export interface PoolQueue {
  /** The engine's name, for error messages. */
  readonly name: string;
  readonly slots: readonly Slot[];
  /** Slots per instance (`max_parallel`). */
  readonly maxParallel: number;
  readonly balance: Balance;
  /** Waiters in arrival order, per priority. */
  readonly waiting: Record<Priority, Waiter[]>;
  /** A pump is running (a grant or refusal called back into the pool). */
  pumping: boolean;
  /** Something changed during the running pump: it goes over the queues once more. */
  again: boolean;
}

const NONE: ReadonlySet<number> = new Set();

/** An empty queue over `slots`. Nothing is contacted. */
export function createPoolQueue(
  name: string,
  slots: readonly Slot[],
  maxParallel: number,
  balance: Balance,
): PoolQueue {
  return {
    name,
    slots,
    maxParallel,
    balance,
    waiting: { high: [], normal: [] },
    pumping: false,
    again: false,
  };
}

/** Requests running, over all instances. */
export function activeCount(q: PoolQueue): number {
  return q.slots.reduce((n, s) => n + s.active, 0);
}

/** Requests waiting for a slot, over both priorities. */
export function queuedCount(q: PoolQueue): number {
  return q.waiting.high.length + q.waiting.normal.length;
}

/** Can take a request now or after its running ones: breaker closed, or a trial due that nobody holds. */
const usable = (s: Slot): boolean =>
  s.breaker.state() === 'closed' || (s.breaker.admits() && !s.trialing && s.active === 0);
const allowed = (s: Slot, exclude: ReadonlySet<number>): boolean => !exclude.has(s.index);

/** True when an instance not in `exclude` can take requests now or once its slots free (breaker not open). */
export function inService(q: PoolQueue, exclude: ReadonlySet<number> = NONE): boolean {
  return q.slots.some((s) => allowed(s, exclude) && usable(s));
}

/** The instance to give a request by the pool's balance, among those allowed, usable and with a free slot. */
function pick(q: PoolQueue, exclude: ReadonlySet<number>): Slot | undefined {
  const free = q.slots.filter((s) => allowed(s, exclude) && usable(s) && s.active < q.maxParallel);
  if (free.length <= 1) return free[0];
  if (q.balance === 'round_robin') {
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

/** ENGINE_UNAVAILABLE (`details.breaker`) naming why each instance left to a request is out of service. */
function downError(q: PoolQueue, exclude: ReadonlySet<number>): AppError {
  const left = q.slots.filter((s) => allowed(s, exclude));
  if (left.length === 1) return (left[0] as Slot).breaker.skipError();
  const reasons = left.map((s) => `${s.endpoint}: ${s.breaker.lastError ?? 'out of service'}`);
  return new AppError(
    'ENGINE_UNAVAILABLE',
    `every instance of engine '${q.name}' is out of service (${reasons.join('; ')})`,
    { details: { engine: q.name, breaker: 'open' } },
  );
}

/** ENGINE_UNAVAILABLE (`details.busy`): a waiter's give-up time passed while it was still queued. */
function busyError(q: PoolQueue): AppError {
  return new AppError(
    'ENGINE_UNAVAILABLE',
    `engine '${q.name}' is busy (${activeCount(q)} running on ${q.slots.length} instance(s), ` +
      `${queuedCount(q)} waiting); waiting longer would leave too little of the deadline for the fallback`,
    { details: { engine: q.name, busy: true } },
  );
}

/** One pass over the queues: grants free slots in order; refuses waiters left with no instance in service. */
function pumpOnce(q: PoolQueue): void {
  for (const queue of [q.waiting.high, q.waiting.normal]) {
    for (let i = 0; i < queue.length; ) {
      const w = queue[i] as Waiter;
      const exclude = w.exclude ?? NONE;
      const slot = inService(q, exclude) ? pick(q, exclude) : undefined;
      if (slot) {
        queue.splice(i, 1);
        w.grant(slot);
      } else if (!inService(q, exclude)) {
        queue.splice(i, 1);
        w.fail(downError(q, exclude));
      } else i++;
    }
  }
}

/**
 * Grants free slots to waiters in order; refuses waiters left with no instance in service. Called on every
 * arrival, release and breaker change; a call during a running pump makes that pump go over the queues again.
 */
export function pump(q: PoolQueue): void {
  if (q.pumping) {
    q.again = true;
    return;
  }
  q.pumping = true;
  try {
    do {
      q.again = false;
      pumpOnce(q);
    } while (q.again);
  } finally {
    q.pumping = false;
  }
}

/** Counts a request on `slot` (a half-open trial when its breaker is not closed) and returns its grant. */
function take(q: PoolQueue, slot: Slot): PoolGrant {
  slot.active++;
  slot.served++;
  const trial = slot.breaker.state() !== 'closed';
  if (trial) slot.trialing = true;
  let released = false;
  return {
    instance: slot,
    trial,
    release() {
      if (released) return;
      released = true;
      slot.active--;
      slot.trialing = false;
      pump(q);
    },
  };
}

/**
 * Queues a request and resolves with a grant once an instance has a free slot (see `EnginePool.acquire`).
 * @throws AppError ENGINE_UNAVAILABLE: every usable instance is out of service (`details.breaker`), at once or
 *   while waiting; or `giveUpAt` passed (`details.busy`). The abort reason when `signal` aborts.
 */
export function acquire(
  q: PoolQueue,
  { priority, signal, exclude, giveUpAt }: AcquireOptions,
): Promise<PoolGrant> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (!inService(q, exclude)) return Promise.reject(downError(q, exclude ?? NONE));
  return new Promise<PoolGrant>((resolve, reject) => {
    const queue = q.waiting[priority];
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
        resolve(take(q, slot));
      },
      fail(err) {
        done();
        reject(err);
      },
    };
    queue.push(waiter);
    signal.addEventListener('abort', onAbort, { once: true });
    pump(q);
    if (giveUpAt === undefined || !queue.includes(waiter)) return;
    const busy = (): void => leave(busyError(q));
    const wait = giveUpAt - performance.now();
    if (wait <= 0) busy();
    else timer = setTimeout(busy, wait);
  });
}
