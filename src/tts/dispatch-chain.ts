/**
 * The dispatcher's outer loop: a request's fallback chain, engine after engine (each engine's turn is
 * `runOnEngine` in `engine-attempt.ts`), until one succeeds or an error no other engine can fix.
 */
import { AppError, type ErrorCode, toAppError } from '../shared/errors.js';
import { type Deadline, NO_DEADLINE, remainingMs } from './deadline.js';
import type { DispatchOutcome, DispatchWork, EngineEntry, RunOptions } from './dispatcher.js';
import { type EngineAttempt, type EngineContext, runOnEngine } from './engine-attempt.js';

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

/** An engine of the chain that failed the request, and how. */
interface ChainFailure {
  engine: string;
  error: AppError;
}

/** The error of a chain where every engine failed (see `Dispatcher.run`'s `@throws`). */
function failedChain(failures: ChainFailure[], deadline: Deadline): AppError {
  const late = failures.find((f) => f.error.code === 'DEADLINE_EXCEEDED');
  if (late && remainingMs(deadline) <= 0) return late.error;
  if (failures.length === 1) return (failures[0] as ChainFailure).error;
  const summary = failures.map((f) => `${f.engine}: ${f.error.message}`).join('; ');
  return new AppError('ALL_ENGINES_FAILED', `every engine failed (${summary})`, {
    details: { failures: failures.map((f) => ({ engine: f.engine, code: f.error.code })) },
  });
}

/**
 * What an engine's failure means for the chain: rethrows when no other engine may take the request (the caller
 * aborted, an error in NO_FALLBACK, or the requested engine is misconfigured); else logs it and returns it as an
 * AppError for the chain's summary.
 */
function fallBackFrom(
  ctx: EngineContext,
  entry: EngineEntry,
  err: unknown,
  signal: AbortSignal,
  isFallback: boolean,
): AppError {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : toAppError(err);
  const error = toAppError(err, 'ENGINE_FAILED');
  if (NO_FALLBACK.has(error.code)) throw error;
  // The engine asked for cannot run as configured: say so (naming the fix) instead of another engine's
  // audio. Reached as a fallback, it is only skipped.
  if (error.code === 'ENGINE_MISCONFIGURED' && !isFallback) throw error;
  const details = error.details ?? {};
  const engine = entry.engine.name;
  if (details.breaker) ctx.log.debug({ engine }, 'engine skipped: out of service');
  else if (details.busy) ctx.log.info({ engine }, 'engine busy past the deadline');
  else ctx.log.warn({ engine, code: error.code, err: error.message }, 'engine failed');
  return error;
}

/**
 * Runs `work` on the engines of `order` (the chain: requested engine first) until one succeeds; see
 * `Dispatcher.run` for the rules and the errors thrown.
 */
export async function runChain<T>(
  ctx: EngineContext,
  order: readonly EngineEntry[],
  signal: AbortSignal,
  work: DispatchWork<T>,
  options: RunOptions,
): Promise<DispatchOutcome<T>> {
  const deadline = options.deadline ?? NO_DEADLINE;
  const failures: ChainFailure[] = [];
  for (const [i, entry] of order.entries()) {
    const attempt: EngineAttempt = {
      entry,
      rest: order.slice(i + 1),
      isFallback: failures.length > 0,
      priority: options.priority ?? 'normal',
      deadline,
      chars: options.chars ?? 0,
    };
    try {
      const { value, instance } = await runOnEngine(ctx, attempt, signal, work);
      return { value, engine: entry, instance, fallbackFrom: failures.map((f) => f.engine) };
    } catch (err) {
      const error = fallBackFrom(ctx, entry, err, signal, failures.length > 0);
      failures.push({ engine: entry.engine.name, error });
    }
  }
  throw failedChain(failures, deadline);
}
