import { AppError, type ErrorCode, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Engine } from './engine.js';
import { createEngineBreaker, type EngineBreaker, isEngineFault } from './engine-breaker.js';
import { createEngineSlots, type EngineSlots } from './engine-slots.js';
import type { Priority } from './say-request.js';

/** One configured engine with its limits. */
export interface EngineEntry {
  engine: Engine;
  /** The transport in use (`wyoming`, `http`, `cli`, `xtts_api`, …), as shown in GET /api/engines. */
  transport?: string;
  /** Simultaneous syntheses (`max_parallel`). */
  maxParallel: number;
  /** Per-attempt time limit in ms (`timeout_s` × 1000), counted from the start of synthesis, not queueing. */
  timeoutMs: number;
  /** Gain in dB applied when encoding this engine's audio. */
  gainDb: number;
  /** Engine faults in a row that open the breaker (`breaker_failures`); default 3. */
  breakerFailures?: number;
  /** Time in ms from opening the breaker to its half-open trial (`breaker_reset_s` × 1000); default 3000. */
  breakerResetMs?: number;
  /** Configured default voice, speaker and language. */
  voice?: string;
  speaker?: string;
  language?: string;
}

/** What a successful dispatch returns: the work's value, the engine that produced it, and the engines skipped. */
export interface DispatchOutcome<T> {
  value: T;
  engine: EngineEntry;
  /** Names of the engines that failed (or were skipped by their open breaker) before `engine`, in order. */
  fallbackFrom: string[];
}

/** One attempt's outcome on an engine, for health: ok, or an engine fault. Skips and caller errors are not reported. */
export interface EngineOutcome {
  engine: string;
  ok: boolean;
  error?: AppError;
}

/** One engine's load now. */
export interface EngineLoad {
  active: number;
  queued: number;
}

/** Errors that another engine cannot fix: no fallback after these. */
const NO_FALLBACK: ReadonlySet<ErrorCode> = new Set([
  'ABORTED',
  'CACHE_IO',
  'DISK_FULL',
  'FFMPEG_NOT_FOUND',
  'SHUTTING_DOWN',
  'TEXT_EMPTY',
  'TEXT_TOO_LONG',
]);

/** Work run on one engine: gets the entry, a signal that aborts on the caller's abort or the engine's timeout. */
export type DispatchWork<T> = (entry: EngineEntry, signal: AbortSignal, isFallback: boolean) => Promise<T>;

/** The dispatcher: per-engine priority queues, limits, timeouts, breakers, and the fallback chain in `engines[]` order. */
export interface Dispatcher {
  /** Engines in configured order. */
  readonly entries: readonly EngineEntry[];
  /** The entry named `name`. @throws AppError ENGINE_NOT_FOUND listing the known engines. */
  get(name: string): EngineEntry;
  /** The fallback chain for a request: the requested (or default) engine first, then the others in order. */
  chain(requested?: string): EngineEntry[];
  /**
   * Runs `work` on each engine of the chain until one succeeds. An engine whose breaker is open is skipped
   * without waiting. Each attempt waits for a slot of that engine's `max_parallel` (`high` before every
   * queued `normal`), then gets a signal that aborts on `signal` or after the engine's timeout.
   * @param priority `high` goes ahead of queued `normal` requests on each engine; default `normal`.
   * @throws the caller's abort reason when `signal` aborts; the single error when the chain has one engine
   *   (ENGINE_UNAVAILABLE when its breaker is open); AppError ALL_ENGINES_FAILED naming each engine's error otherwise.
   */
  run<T>(
    requested: string | undefined,
    signal: AbortSignal,
    work: DispatchWork<T>,
    priority?: Priority,
  ): Promise<DispatchOutcome<T>>;
  /** Requests waiting for an engine slot, over all engines. */
  queueDepth(): number;
  /** Requests running on an engine now. */
  activeCount(): number;
  /** One engine's active and queued requests. @throws AppError ENGINE_NOT_FOUND. */
  load(name: string): EngineLoad;
  /** One engine's circuit breaker (the health monitor runs half-open trials through it). @throws ENGINE_NOT_FOUND. */
  breaker(name: string): EngineBreaker;
  /** Registers `listener` for every attempt's outcome (success or engine fault). A throwing listener is logged. */
  onOutcome(listener: (outcome: EngineOutcome) => void): void;
}

interface Runtime {
  slots: EngineSlots;
  breaker: EngineBreaker;
}

/**
 * Builds the dispatcher over `entries` (config order = fallback order).
 * @param defaultEngine the engine used when a request names none; empty: the first entry.
 */
export function createDispatcher(opts: {
  entries: EngineEntry[];
  defaultEngine?: string;
  log: Log;
}): Dispatcher {
  const { entries, log } = opts;
  const byName = new Map(entries.map((e) => [e.engine.name, e]));
  const runtimes = new Map<string, Runtime>(
    entries.map((e) => [
      e.engine.name,
      {
        slots: createEngineSlots(e.maxParallel),
        breaker: createEngineBreaker({
          engine: e.engine.name,
          failures: e.breakerFailures ?? 3,
          resetMs: e.breakerResetMs ?? 3000,
        }),
      },
    ]),
  );
  for (const [name, rt] of runtimes) {
    rt.breaker.onChange((state) => log.warn({ engine: name, breaker: state }, 'engine breaker'));
  }
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
  const runtime = (name: string): Runtime => {
    get(name);
    return runtimes.get(name) as Runtime;
  };

  const chain = (requested?: string): EngineEntry[] => {
    const first = get(requested || (defaultName as string));
    return [first, ...entries.filter((e) => e !== first)];
  };

  const emit = (outcome: EngineOutcome): void => {
    for (const listener of listeners) {
      try {
        listener(outcome);
      } catch (err) {
        log.warn({ err }, 'engine outcome listener failed');
      }
    }
  };

  /** Runs `work` with the engine's timeout; a timeout becomes ENGINE_TIMEOUT. */
  async function timed<T>(entry: EngineEntry, signal: AbortSignal, run: (s: AbortSignal) => Promise<T>) {
    signal.throwIfAborted();
    const timeout = AbortSignal.timeout(entry.timeoutMs);
    try {
      return await run(AbortSignal.any([signal, timeout]));
    } catch (err) {
      if (timeout.aborted && !signal.aborted) {
        throw new AppError(
          'ENGINE_TIMEOUT',
          `engine '${entry.engine.name}' took longer than its timeout of ${entry.timeoutMs / 1000} s`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async function attempt<T>(
    entry: EngineEntry,
    signal: AbortSignal,
    work: DispatchWork<T>,
    isFallback: boolean,
    priority: Priority,
  ): Promise<T> {
    const { slots, breaker } = runtimes.get(entry.engine.name) as Runtime;
    // An open breaker skips the engine at once, without queueing behind its slots.
    if (!breaker.admits()) throw breaker.skipError();
    const release = await slots.acquire(priority, signal);
    try {
      const value = await breaker.execute(() => timed(entry, signal, (s) => work(entry, s, isFallback)));
      emit({ engine: entry.engine.name, ok: true });
      return value;
    } catch (err) {
      if (isEngineFault(err) && (err as AppError).details?.breaker === undefined) {
        emit({ engine: entry.engine.name, ok: false, error: err as AppError });
      }
      throw err;
    } finally {
      release();
    }
  }

  return {
    entries,
    get,
    chain,
    async run(requested, signal, work, priority = 'normal') {
      const order = chain(requested);
      const failures: Array<{ engine: string; error: AppError }> = [];
      for (const entry of order) {
        try {
          const value = await attempt(entry, signal, work, failures.length > 0, priority);
          return { value, engine: entry, fallbackFrom: failures.map((f) => f.engine) };
        } catch (err) {
          if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : toAppError(err);
          const error = toAppError(err, 'ENGINE_FAILED');
          if (NO_FALLBACK.has(error.code)) throw error;
          // The engine asked for cannot run as configured: say so (naming the fix) instead of another engine's
          // audio. Reached as a fallback, it is only skipped.
          if (error.code === 'ENGINE_MISCONFIGURED' && failures.length === 0) throw error;
          failures.push({ engine: entry.engine.name, error });
          if (error.details?.breaker)
            log.debug({ engine: entry.engine.name }, 'engine skipped: breaker open');
          else log.warn({ engine: entry.engine.name, code: error.code, err: error.message }, 'engine failed');
        }
      }
      if (failures.length === 1) throw (failures[0] as { error: AppError }).error;
      const summary = failures.map((f) => `${f.engine}: ${f.error.message}`).join('; ');
      throw new AppError('ALL_ENGINES_FAILED', `every engine failed (${summary})`, {
        details: { failures: failures.map((f) => ({ engine: f.engine, code: f.error.code })) },
      });
    },
    queueDepth: () => [...runtimes.values()].reduce((n, r) => n + r.slots.queued, 0),
    activeCount: () => [...runtimes.values()].reduce((n, r) => n + r.slots.active, 0),
    load(name) {
      const { slots } = runtime(name);
      return { active: slots.active, queued: slots.queued };
    },
    breaker: (name) => runtime(name).breaker,
    onOutcome(listener) {
      listeners.push(listener);
    },
  };
}
