import pLimit, { type LimitFunction } from 'p-limit';
import { AppError, type ErrorCode, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Engine } from './engine.js';

/** One configured engine with its limits. */
export interface EngineEntry {
  engine: Engine;
  /** Simultaneous syntheses (`max_parallel`). */
  maxParallel: number;
  /** Per-attempt time limit in ms (`timeout_s` × 1000), counted from the start of synthesis, not queueing. */
  timeoutMs: number;
  /** Gain in dB applied when encoding this engine's audio. */
  gainDb: number;
  /** Configured default voice, speaker and language. */
  voice?: string;
  speaker?: string;
  language?: string;
}

/** What a successful dispatch returns: the work's value, the engine that produced it, and the engines skipped. */
export interface DispatchOutcome<T> {
  value: T;
  engine: EngineEntry;
  /** Names of the engines that failed before `engine`, in order. */
  fallbackFrom: string[];
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

/** The dispatcher: per-engine limits and timeouts, and the fallback chain in `engines[]` order. */
export interface Dispatcher {
  /** Engines in configured order. */
  readonly entries: readonly EngineEntry[];
  /** The entry named `name`. @throws AppError ENGINE_NOT_FOUND listing the known engines. */
  get(name: string): EngineEntry;
  /** The fallback chain for a request: the requested (or default) engine first, then the others in order. */
  chain(requested?: string): EngineEntry[];
  /**
   * Runs `work` on each engine of the chain until one succeeds. Each attempt waits for a slot of that engine's
   * limit, then gets a signal that aborts on `signal` or after the engine's timeout.
   * @throws the caller's abort reason when `signal` aborts; the single error when the chain has one engine;
   *   AppError ALL_ENGINES_FAILED naming each engine's error otherwise.
   */
  run<T>(
    requested: string | undefined,
    signal: AbortSignal,
    work: (entry: EngineEntry, signal: AbortSignal, isFallback: boolean) => Promise<T>,
  ): Promise<DispatchOutcome<T>>;
  /** Requests waiting for an engine slot, over all engines. */
  queueDepth(): number;
  /** Requests running on an engine now. */
  activeCount(): number;
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
  const limits = new Map<string, LimitFunction>(entries.map((e) => [e.engine.name, pLimit(e.maxParallel)]));
  const byName = new Map(entries.map((e) => [e.engine.name, e]));
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

  const chain = (requested?: string): EngineEntry[] => {
    const first = get(requested || (defaultName as string));
    return [first, ...entries.filter((e) => e !== first)];
  };

  async function attempt<T>(
    entry: EngineEntry,
    signal: AbortSignal,
    work: (entry: EngineEntry, signal: AbortSignal, isFallback: boolean) => Promise<T>,
    isFallback: boolean,
  ): Promise<T> {
    const limit = limits.get(entry.engine.name) as LimitFunction;
    return limit(async () => {
      signal.throwIfAborted();
      const timeout = AbortSignal.timeout(entry.timeoutMs);
      const combined = AbortSignal.any([signal, timeout]);
      try {
        return await work(entry, combined, isFallback);
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
    });
  }

  return {
    entries,
    get,
    chain,
    async run(requested, signal, work) {
      const order = chain(requested);
      const failures: Array<{ engine: string; error: AppError }> = [];
      for (const entry of order) {
        try {
          const value = await attempt(entry, signal, work, failures.length > 0);
          return { value, engine: entry, fallbackFrom: failures.map((f) => f.engine) };
        } catch (err) {
          if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : toAppError(err);
          const error = toAppError(err, 'ENGINE_FAILED');
          if (NO_FALLBACK.has(error.code)) throw error;
          failures.push({ engine: entry.engine.name, error });
          log.warn({ engine: entry.engine.name, code: error.code, err: error.message }, 'engine failed');
        }
      }
      if (failures.length === 1) throw (failures[0] as { error: AppError }).error;
      const summary = failures.map((f) => `${f.engine}: ${f.error.message}`).join('; ');
      throw new AppError('ALL_ENGINES_FAILED', `every engine failed (${summary})`, {
        details: { failures: failures.map((f) => ({ engine: f.engine, code: f.error.code })) },
      });
    },
    queueDepth: () => [...limits.values()].reduce((n, l) => n + l.pendingCount, 0),
    activeCount: () => [...limits.values()].reduce((n, l) => n + l.activeCount, 0),
  };
}
