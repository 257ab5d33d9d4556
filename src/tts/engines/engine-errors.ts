import { AppError } from '../../shared/errors.js';
import type { EngineHealth } from '../engine.js';

/**
 * Error helpers shared by the engines, so every transport reports the same codes for the same faults.
 */

/**
 * The error an engine throws when its `signal` aborted: an AppError reason is passed through as it is,
 * a `TimeoutError` (from `AbortSignal.timeout(ms)`) becomes ENGINE_TIMEOUT, anything else ABORTED.
 * The original reason is kept as `cause`.
 */
export function abortError(engine: string, signal: AbortSignal): AppError {
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new AppError('ENGINE_TIMEOUT', `engine '${engine}' timed out; raise its timeout_s or check it`, {
      cause: reason,
      details: { engine },
    });
  }
  return new AppError('ABORTED', `synthesis on engine '${engine}' was cancelled`, {
    cause: reason,
    details: { engine },
  });
}

/** Throws {@link abortError} when `signal` has already aborted. */
export function throwIfAborted(engine: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(engine, signal);
}

/** The message of any thrown value, for health reports and error texts. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Splits a configured command line (`engines[].command`, e.g. `python -m piper`) into an argv array.
 * Whitespace separates words; single or double quotes group a word with spaces. No shell is involved.
 * @throws AppError CONFIG_INVALID when the command is empty or a quote is unbalanced.
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const ch of command) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  if (words.length === 0 || quote !== undefined) {
    throw new AppError('CONFIG_INVALID', `engine command '${command}' is empty or has an unbalanced quote`);
  }
  return words;
}

/**
 * VOICE_NOT_FOUND for `what` (e.g. `voice 'x'`) on `engine`, naming up to 40 known voices.
 */
export function voiceNotFound(engine: string, what: string, known: readonly string[]): AppError {
  const list =
    known.length === 0 ? 'none reported' : known.slice(0, 40).join(', ') + (known.length > 40 ? ', …' : '');
  return new AppError('VOICE_NOT_FOUND', `${what} not found on engine '${engine}'; known voices: ${list}`, {
    details: { engine },
  });
}

/** Runs a probe: healthy when `check` resolves, unhealthy with its message when it throws. Never throws. */
export async function probeHealth(check: () => Promise<unknown>): Promise<EngineHealth> {
  try {
    await check();
    return { healthy: true, checkedAt: Date.now() };
  } catch (err) {
    const health: EngineHealth = { healthy: false, checkedAt: Date.now(), error: errorMessage(err) };
    if (err instanceof AppError) health.code = err.code;
    return health;
  }
}
