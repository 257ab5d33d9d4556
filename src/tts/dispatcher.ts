import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Deadline } from './deadline.js';
import { runChain } from './dispatch-chain.js';
import type { Engine, Priority } from './engine.js';
import type { EngineContext } from './engine-attempt.js';
import {
  type Balance,
  createEnginePool,
  type EngineInstance,
  type EnginePool,
  type PoolInstanceSpec,
} from './engine-pool.js';
import { createEngineSpeed, type EngineSpeed } from './engine-speed.js';

/** One configured engine with its limits. */
export interface EngineEntry {
  /**
   * The engine as a whole, for its voices and a quick probe: the one instance's client, or a client that asks
   * each instance in turn (see `createPoolFacade`). Synthesis goes through the pool to one instance.
   */
  engine: Engine;
  /** Its instances (`url`, then `urls`); absent: one instance, `engine` itself. */
  instances?: PoolInstanceSpec[];
  /** How requests are spread over the instances; default least outstanding. */
  balance?: Balance;
  /** The transport in use (`wyoming`, `http`, `cli`, `xtts_api`, …), as shown in GET /api/engines. */
  transport?: string;
  /** Simultaneous syntheses per instance (`max_parallel`). */
  maxParallel: number;
  /** Per-attempt time limit in ms (`timeout_s` × 1000), counted from the start of synthesis, not queueing. */
  timeoutMs: number;
  /** Gain in dB applied when encoding this engine's audio. */
  gainDb: number;
  /** Engine faults in a row that open an instance's breaker (`breaker_failures`); default 3. */
  breakerFailures?: number;
  /** Time in ms from opening a breaker to its half-open trial (`breaker_reset_s` × 1000); default 3000. */
  breakerResetMs?: number;
  /** Configured default voice, speaker and language. */
  voice?: string;
  speaker?: string;
  language?: string;
}

/** What a successful dispatch returns: the work's value, the engine and instance, and the engines skipped. */
export interface DispatchOutcome<T> {
  value: T;
  engine: EngineEntry;
  instance: EngineInstance;
  /** Names of the engines that failed (or were skipped by their open breakers) before `engine`, in order. */
  fallbackFrom: string[];
}

/** One attempt's outcome on an instance, for health: ok, or an engine fault. Skips and caller errors are not reported. */
export interface EngineOutcome {
  engine: string;
  /** The instance's index among the engine's instances. */
  instance: number;
  ok: boolean;
  error?: AppError;
}

/** One engine's load now. */
export interface EngineLoad {
  active: number;
  queued: number;
}

/** How one request is dispatched. */
export interface RunOptions {
  /** `high` goes ahead of queued `normal` requests on each engine; default `normal`. */
  priority?: Priority;
  /** When the request must be done; default none. */
  deadline?: Readonly<Deadline>;
  /** Characters of text, for the time estimates that keep room for the fallback chain. */
  chars?: number;
}

/**
 * Work run on one instance: gets the entry (its `engine` is the chosen instance's client), a signal that aborts
 * on the caller's abort, the engine's timeout or the request's deadline, whether this is a fallback engine, the
 * instance, and `engineDone`: the work calls it once it will ask the engine for nothing more (its last audio
 * arrived), which frees the instance's slot for the next request while the work still finishes without the
 * engine (encode, cache commit). The slot is freed at the end of the work in any case; a half-open trial keeps
 * its slot until then (see PoolGrant.trial). The timeout, the breaker's outcome and the fallback still follow
 * the whole work.
 */
export type DispatchWork<T> = (
  entry: EngineEntry,
  signal: AbortSignal,
  isFallback: boolean,
  instance: EngineInstance,
  engineDone: () => void,
) => Promise<T>;

/** The dispatcher: per-engine pools (queues, instances, limits, breakers), timeouts, deadlines, and the fallback chain. */
export interface Dispatcher {
  /** Engines in configured order. */
  readonly entries: readonly EngineEntry[];
  /** Recent synthesis speed per engine (fed by the say service, read for estimates, the panel and metrics). */
  readonly speed: EngineSpeed;
  /** The entry named `name`. @throws AppError ENGINE_NOT_FOUND listing the known engines. */
  get(name: string): EngineEntry;
  /** The fallback chain for a request: the requested (or default) engine first, then the others in order. */
  chain(requested?: string): EngineEntry[];
  /**
   * Runs `work` on the chain's engines until one succeeds. On each engine the request waits in its queue for a
   * free slot on an instance in service; an instance that fails with an engine fault is left out and another
   * instance of the same engine is tried; the next engine is tried only when every instance is out of service
   * or failed, or when the engine is so busy that waiting longer would leave too little of the deadline for the
   * fallback. Each attempt ends at the engine's timeout or, when earlier, at the deadline minus the time kept
   * for the engines after it (their estimated time for this text; a quarter of what is left before any is known).
   * @throws the caller's abort reason when `signal` aborts (DEADLINE_EXCEEDED from the say service's deadline);
   *   DEADLINE_EXCEEDED when the deadline passed; the single error when the chain has one engine
   *   (ENGINE_UNAVAILABLE when it is out of service); AppError ALL_ENGINES_FAILED naming each engine's error.
   */
  run<T>(
    requested: string | undefined,
    signal: AbortSignal,
    work: DispatchWork<T>,
    options?: RunOptions,
  ): Promise<DispatchOutcome<T>>;
  /** Requests waiting for an engine slot, over all engines. */
  queueDepth(): number;
  /** Requests running on an engine now. */
  activeCount(): number;
  /** One engine's active and queued requests. @throws AppError ENGINE_NOT_FOUND. */
  load(name: string): EngineLoad;
  /** One engine's pool: instances with their breakers and loads. @throws AppError ENGINE_NOT_FOUND. */
  pool(name: string): EnginePool;
  /** Registers `listener` for every attempt's outcome (success or engine fault). A throwing listener is logged. */
  onOutcome(listener: (outcome: EngineOutcome) => void): void;
}

/** The pool of each entry, by engine name; each breaker change is logged. */
function createPools(entries: readonly EngineEntry[], log: Log): Map<string, EnginePool> {
  const pools = new Map<string, EnginePool>(
    entries.map((e) => [
      e.engine.name,
      createEnginePool({
        name: e.engine.name,
        instances: e.instances?.length ? e.instances : [{ engine: e.engine, url: undefined }],
        maxParallel: e.maxParallel,
        balance: e.balance,
        breakerFailures: e.breakerFailures ?? 3,
        breakerResetMs: e.breakerResetMs ?? 3000,
      }),
    ]),
  );
  for (const [name, pool] of pools) {
    for (const i of pool.instances) {
      i.breaker.onChange((state) =>
        log.warn({ engine: name, instance: i.endpoint, breaker: state }, 'engine breaker'),
      );
    }
  }
  return pools;
}

/** Calls each listener with `outcome`; a throwing listener is logged and the others still run. */
function emitOutcome(
  listeners: ReadonlyArray<(o: EngineOutcome) => void>,
  log: Log,
  outcome: EngineOutcome,
): void {
  for (const listener of listeners) {
    try {
      listener(outcome);
    } catch (err) {
      log.warn({ err }, 'engine outcome listener failed');
    }
  }
}

/**
 * Builds the dispatcher over `entries` (config order = fallback order).
 * @param defaultEngine the engine used when a request names none; empty: the first entry.
 */
export function createDispatcher(opts: {
  entries: EngineEntry[];
  defaultEngine?: string;
  speed?: EngineSpeed;
  log: Log;
}): Dispatcher {
  const { entries, log } = opts;
  const speed = opts.speed ?? createEngineSpeed();
  const byName = new Map(entries.map((e) => [e.engine.name, e]));
  const pools = createPools(entries, log);
  const listeners: Array<(o: EngineOutcome) => void> = [];
  const defaultName = opts.defaultEngine || entries[0]?.engine.name;

  const get = (name: string): EngineEntry => {
    const entry = byName.get(name);
    if (!entry) {
      throw new AppError(
        'ENGINE_NOT_FOUND',
        `engine '${name}' is not configured; known engines: ${[...byName.keys()].join(', ')}`,
      );
    }
    return entry;
  };
  const poolOf = (name: string): EnginePool => {
    get(name);
    return pools.get(name) as EnginePool;
  };
  const chain = (requested?: string): EngineEntry[] => {
    const first = get(requested || (defaultName as string));
    return [first, ...entries.filter((e) => e !== first)];
  };
  const engineContext: EngineContext = {
    pool: poolOf,
    speed,
    emit: (outcome) => emitOutcome(listeners, log, outcome),
    log,
  };

  return {
    entries,
    speed,
    get,
    chain,
    // async: an unknown engine name rejects the promise rather than throwing at the call.
    async run(requested, signal, work, options = {}) {
      return runChain(engineContext, chain(requested), signal, work, options);
    },
    queueDepth: () => [...pools.values()].reduce((n, p) => n + p.queued, 0),
    activeCount: () => [...pools.values()].reduce((n, p) => n + p.active, 0),
    load(name) {
      const pool = poolOf(name);
      return { active: pool.active, queued: pool.queued };
    },
    pool: poolOf,
    onOutcome(listener) {
      listeners.push(listener);
    },
  };
}
