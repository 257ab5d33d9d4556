/**
 * Request deadlines: every say has one (`deadline_s` in the request, else the `default_deadline_s` option, and
 * never later than an MQTT 5 message expiry). Queue wait, every engine attempt and the fallback chain count
 * against it. Times are `performance.now()` milliseconds, so a clock change never moves a deadline.
 */
import { performance } from 'node:perf_hooks';
import { AppError } from '../shared/errors.js';

/**
 * When a request must be done, as a `performance.now()` ms value (`Infinity`: never). Mutable on purpose: a
 * synthesis shared by several identical requests (single-flight) runs until the latest of their deadlines.
 */
export interface Deadline {
  at: number;
}

/** A deadline that never passes (callers that set none, e.g. benchmarks of the dispatcher alone). */
export const NO_DEADLINE: Readonly<Deadline> = Object.freeze({ at: Number.POSITIVE_INFINITY });

/** Milliseconds left until `deadline` (negative once past; `Infinity` for none). */
export function remainingMs(deadline: Readonly<Deadline>, now = performance.now()): number {
  return deadline.at - now;
}

/**
 * The budget of a request in ms: its own `deadline_s` or the default, capped by the MQTT 5 message expiry
 * interval when the message carried one (the publisher said the message is worthless after that).
 * @param deadlineS the request's `deadline_s`, if set.
 * @param expiryS the MQTT 5 `messageExpiryInterval` as the broker forwarded it (seconds left), if any.
 * @param defaultDeadlineMs the `default_deadline_s` option in ms.
 */
export function budgetMs(
  deadlineS: number | undefined,
  expiryS: number | undefined,
  defaultDeadlineMs: number,
): number {
  const own = deadlineS !== undefined ? deadlineS * 1000 : defaultDeadlineMs;
  return expiryS !== undefined ? Math.min(own, expiryS * 1000) : own;
}

/** The error of a request whose deadline passed; `stage` says where it was (for the message only). */
export function deadlineError(budget: number, stage: string): AppError {
  const seconds = Math.round(budget / 100) / 10;
  return new AppError(
    'DEADLINE_EXCEEDED',
    `the request's deadline of ${seconds} s passed ${stage}; raise deadline_s (or default_deadline_s) or add engine instances`,
    { details: { deadline_ms: Math.round(budget), stage } },
  );
}

/** A deadline's timer: `signal` aborts with DEADLINE_EXCEEDED when it passes; `clear()` stops the timer. */
export interface DeadlineTimer {
  readonly signal: AbortSignal;
  clear(): void;
}

/**
 * Starts the timer of `deadline`: its signal aborts with `reason()` at `deadline.at` (at once when already
 * past). The timer is unref'd, so it never keeps the process alive. An infinite deadline never aborts.
 */
export function startDeadlineTimer(deadline: Readonly<Deadline>, reason: () => AppError): DeadlineTimer {
  const controller = new AbortController();
  const left = remainingMs(deadline);
  if (!Number.isFinite(left)) return { signal: controller.signal, clear: () => {} };
  if (left <= 0) {
    controller.abort(reason());
    return { signal: controller.signal, clear: () => {} };
  }
  // setTimeout holds at most 2^31-1 ms; a longer deadline is clamped, which only matters past 24 days.
  const timer = setTimeout(() => controller.abort(reason()), Math.min(left, 2 ** 31 - 1));
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
