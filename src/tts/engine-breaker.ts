import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import { AppError, type ErrorCode, isAppError } from '../shared/errors.js';

/** A breaker's state as shown in GET /api/engines and tts/status. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Errors that say the engine itself is failing; only these count towards opening the breaker. */
const ENGINE_FAULTS: ReadonlySet<ErrorCode> = new Set([
  'ENGINE_UNAVAILABLE',
  'ENGINE_TIMEOUT',
  'ENGINE_FAILED',
  'ENGINE_BAD_RESPONSE',
  'WYOMING_PROTOCOL',
]);

/** True when `err` is a failure of the engine (not of the caller, the text or the disk). */
export function isEngineFault(err: unknown): boolean {
  return isAppError(err) && ENGINE_FAULTS.has(err.code);
}

/**
 * One engine's circuit breaker (cockatiel's CircuitBreakerPolicy with a ConsecutiveBreaker): after
 * `failures` engine faults in a row it opens and requests skip the engine; once `resetMs` has passed, one
 * call is let through as the half-open trial: success closes the breaker, an engine fault opens it again.
 */
export interface EngineBreaker {
  state(): BreakerState;
  /** When the breaker last opened (ms since epoch); 0 if never. */
  readonly openedAt: number;
  /** The message of the fault that last opened it. */
  readonly lastError: string | undefined;
  /** True when a call may reach the engine now: closed, or open with the reset time passed (the trial). */
  admits(): boolean;
  /**
   * Runs `fn` through the breaker. Faults ({@link isEngineFault}) count; other errors pass through.
   * @throws AppError ENGINE_UNAVAILABLE (details.breaker = "open") when the breaker does not admit the call,
   *   else whatever `fn` throws.
   */
  execute<T>(fn: () => Promise<T>): Promise<T>;
  /** The error a skipped call gets: ENGINE_UNAVAILABLE naming the engine, the last fault and the next trial. */
  skipError(): AppError;
  /** Registers `listener` for every state change. */
  onChange(listener: (state: BreakerState) => void): void;
}

/** Options of {@link createEngineBreaker}. */
export interface EngineBreakerOptions {
  engine: string;
  /** The instance's endpoint when the engine has several (named in messages and details). */
  instance?: string;
  /** Engine faults in a row that open the breaker (`breaker_failures`). */
  failures: number;
  /** Time in ms from opening to the half-open trial (`breaker_reset_s` × 1000). */
  resetMs: number;
}

const STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
};

/** Builds the breaker of one engine. */
export function createEngineBreaker(opts: EngineBreakerOptions): EngineBreaker {
  // A half-open trial that was cut short (the request's deadline, an abort) proved nothing: it counts as a
  // failure, so the breaker opens again instead of cockatiel closing it on an error it does not handle.
  const counts = (err: Error): boolean =>
    isEngineFault(err) ||
    (policy.state === CircuitState.HalfOpen &&
      (isAppError(err, 'DEADLINE_EXCEEDED') || isAppError(err, 'ABORTED')));
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(counts), {
    halfOpenAfter: opts.resetMs,
    breaker: new ConsecutiveBreaker(opts.failures),
  });
  let openedAt = 0;
  let lastError: string | undefined;
  policy.onBreak((reason) => {
    openedAt = Date.now();
    lastError = 'error' in reason ? reason.error.message : undefined;
  });

  const breaker: EngineBreaker = {
    state: () => STATES[policy.state],
    get openedAt() {
      return openedAt;
    },
    get lastError() {
      return lastError;
    },
    admits() {
      const state = policy.state;
      if (state === CircuitState.Closed) return true;
      return state === CircuitState.Open && Date.now() - openedAt >= opts.resetMs;
    },
    async execute(fn) {
      // Checked here too: cockatiel would make callers wait for a running trial instead of falling back.
      if (!breaker.admits()) throw breaker.skipError();
      try {
        return await policy.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw breaker.skipError();
        throw err;
      }
    },
    skipError() {
      const waitS = Math.max(0, Math.ceil((openedAt + opts.resetMs - Date.now()) / 1000));
      const trial =
        policy.state === CircuitState.HalfOpen ? 'a trial is running' : `next trial in ${waitS} s`;
      const who = opts.instance
        ? `engine '${opts.engine}' (instance ${opts.instance})`
        : `engine '${opts.engine}'`;
      return new AppError(
        'ENGINE_UNAVAILABLE',
        `${who} is out of service after ${opts.failures} failures in a row ` +
          `(last: ${lastError ?? 'unknown'}); ${trial}`,
        {
          details: {
            engine: opts.engine,
            ...(opts.instance ? { instance: opts.instance } : {}),
            breaker: breaker.state(),
          },
        },
      );
    },
    onChange(listener) {
      policy.onStateChange((state) => listener(STATES[state]));
    },
  };
  return breaker;
}
