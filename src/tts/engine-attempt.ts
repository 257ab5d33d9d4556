/**
 * One engine's turn in a request's fallback chain (the dispatcher's inner loop): the queue wait with its give-up
 * time, the attempt's time budget (the engine's timeout or the request's deadline minus the time kept for the
 * engines after it), and the retry on another instance of the same engine after an engine fault.
 */
import { performance } from 'node:perf_hooks';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { type Deadline, remainingMs } from './deadline.js';
import type { DispatchWork, EngineEntry, EngineOutcome } from './dispatcher.js';
import type { Priority } from './engine.js';
import { isEngineFault } from './engine-breaker.js';
import type { EngineInstance, EnginePool } from './engine-pool.js';
import type { EngineSpeed } from './engine-speed.js';

/** What an attempt needs of the dispatcher. */
export interface EngineContext {
  pool(name: string): EnginePool;
  speed: EngineSpeed;
  emit(outcome: EngineOutcome): void;
  log: Log;
}

/** Share of the time left kept for the fallback chain while nothing is known about the next engine's speed. */
const UNKNOWN_RESERVE_SHARE = 0.25;
/** ...but at least this much (in ms) when the deadline allows: a short deadline needs a usable remainder. */
const UNKNOWN_RESERVE_MIN_MS = 1000;
/** The most of the time left ever kept for the fallback chain. */
const MAX_RESERVE_SHARE = 0.5;

/** A guess in ms for an engine of unknown speed: a quarter of the time left, at least 1 s, at most half. */
function unknownMs(leftMs: number): number {
  return Math.min(
    leftMs * MAX_RESERVE_SHARE,
    Math.max(leftMs * UNKNOWN_RESERVE_SHARE, UNKNOWN_RESERVE_MIN_MS),
  );
}

/** Time in ms kept for the engines after the current one: the first of them in service, by its estimate. */
function reserveMs(ctx: EngineContext, rest: readonly EngineEntry[], chars: number, leftMs: number): number {
  if (!Number.isFinite(leftMs) || leftMs <= 0) return 0;
  const next = rest.find((e) => ctx.pool(e.engine.name).inService());
  if (!next) return 0;
  const estimate = ctx.speed.estimateMs(next.engine.name, chars);
  if (estimate === undefined) return unknownMs(leftMs);
  return Math.min(leftMs * MAX_RESERVE_SHARE, estimate * 1.5 + 250);
}

/**
 * Runs `run` within `budgetMs`: the engine's timeout (ENGINE_TIMEOUT, an engine fault) or, when `cut`, the
 * request's deadline share (DEADLINE_EXCEEDED, which says nothing about the engine's health).
 */
async function timed<T>(
  entry: EngineEntry,
  budgetMs: number,
  cut: boolean,
  signal: AbortSignal,
  run: (s: AbortSignal) => Promise<T>,
): Promise<T> {
  signal.throwIfAborted();
  const timeout = AbortSignal.timeout(Math.max(1, Math.round(budgetMs)));
  try {
    return await run(AbortSignal.any([signal, timeout]));
  } catch (err) {
    if (!timeout.aborted || signal.aborted) throw err;
    const name = entry.engine.name;
    if (cut) {
      throw new AppError(
        'DEADLINE_EXCEEDED',
        `engine '${name}' did not finish within the ${(budgetMs / 1000).toFixed(1)} s the request's deadline left it`,
        { cause: err, details: { engine: name, stage: 'engine' } },
      );
    }
    throw new AppError(
      'ENGINE_TIMEOUT',
      `engine '${name}' took longer than its timeout of ${entry.timeoutMs / 1000} s`,
      { cause: err },
    );
  }
}

/** One engine of a request's chain. */
export interface EngineAttempt {
  entry: EngineEntry;
  /** Engines after this one in the chain. */
  rest: readonly EngineEntry[];
  isFallback: boolean;
  priority: Priority;
  deadline: Readonly<Deadline>;
  chars: number;
}

/**
 * One engine of a request's chain: waits in its queue for an instance in service, runs `work` there within the
 * engine's timeout and the request's deadline share, and on an engine fault tries another instance of the same
 * engine (see Dispatcher.run).
 * @throws the last instance's error when none is left; ENGINE_UNAVAILABLE when the engine is out of service or
 *   busy past the deadline; DEADLINE_EXCEEDED when the deadline leaves it no time; the abort reason.
 */
export async function runOnEngine<T>(
  ctx: EngineContext,
  a: EngineAttempt,
  signal: AbortSignal,
  work: DispatchWork<T>,
): Promise<{ value: T; instance: EngineInstance }> {
  const { speed, log } = ctx;
  const emit = ctx.emit;
  const name = a.entry.engine.name;
  const pool = ctx.pool(name);
  const exclude = new Set<number>();
  let lastError: AppError | undefined;
  for (;;) {
    if (lastError && !pool.inService(exclude)) throw lastError;
    const left = remainingMs(a.deadline);
    const reserve = a.rest.length ? reserveMs(ctx, a.rest, a.chars, left) : 0;
    // Waiting for a busy engine ends when even a start right then would not leave the fallback its reserve.
    const own = speed.estimateMs(name, a.chars) ?? (Number.isFinite(left) ? unknownMs(left) : 0);
    const giveUpAt =
      a.rest.length && Number.isFinite(left) ? performance.now() + left - reserve - own : undefined;
    const grant = await pool.acquire({ priority: a.priority, signal, exclude, giveUpAt });
    const { instance } = grant;
    // The engine's part is over: its slot goes to the next request (never a half-open trial's: PoolGrant.trial).
    const engineDone = (): void => {
      if (!grant.trial) grant.release();
    };
    try {
      const share = remainingMs(a.deadline) - reserve;
      if (share <= 0) {
        throw new AppError(
          'DEADLINE_EXCEEDED',
          `engine '${name}' got a slot too late: the request's deadline leaves it no time`,
          { details: { engine: name, stage: 'queue' } },
        );
      }
      const cut = share < a.entry.timeoutMs;
      const value = await instance.breaker.execute(() =>
        timed(a.entry, Math.min(a.entry.timeoutMs, share), cut, signal, (s) =>
          work({ ...a.entry, engine: instance.engine }, s, a.isFallback, instance, engineDone),
        ),
      );
      emit({ engine: name, instance: instance.index, ok: true });
      return { value, instance };
    } catch (err) {
      if (signal.aborted) throw err;
      const lostTrial = (err as AppError).details?.breaker !== undefined;
      if (isEngineFault(err) && !lostTrial) {
        emit({ engine: name, instance: instance.index, ok: false, error: err as AppError });
      }
      if (!lostTrial && !(isEngineFault(err) && pool.instances.length > 1)) throw err;
      // This instance failed the request (or lost a half-open trial to another caller): try another one.
      exclude.add(instance.index);
      lastError = toAppError(err, 'ENGINE_FAILED');
      if (!lostTrial) {
        log.warn(
          { engine: name, instance: instance.endpoint, code: lastError.code, err: lastError.message },
          'engine instance failed; trying another',
        );
      }
    } finally {
      grant.release();
    }
  }
}
