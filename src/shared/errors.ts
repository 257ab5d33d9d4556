/**
 * The error catalogue: every error the hub reports to a user carries one of these stable codes.
 * MQTT answers `{ok:false, error:{code, message}}`; HTTP maps `httpStatus`.
 */

/** Stable error codes, part of the public contract (tts/result `error.code`). */
export const ERROR_CODES = {
  BAD_PAYLOAD: 400,
  INVALID_JSON: 400,
  INVALID_UTF8: 400,
  TEXT_EMPTY: 400,
  TEXT_TOO_LONG: 413,
  /** A message, body or frame over its size limit (checked before it is decoded). */
  PAYLOAD_TOO_LARGE: 413,
  /** A cap on concurrent work was reached (recordings, connections); the message names the option. */
  LIMIT_REACHED: 429,
  ENGINE_NOT_FOUND: 400,
  VOICE_NOT_FOUND: 400,
  FORMAT_UNSUPPORTED: 400,
  TARGET_NOT_FOUND: 400,
  /** A target form the options do not allow (ad-hoc tcp:// targets without `limits.allow_tcp_targets`). */
  TARGET_NOT_ALLOWED: 403,
  CHIME_NOT_FOUND: 400,
  CHIME_INVALID: 422,
  TARGET_UNAVAILABLE: 503,
  TARGET_UNSUPPORTED: 400,
  BAD_REPLY_TO: 400,
  INVALID_DEVICE: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAUTHORIZED: 401,
  ENGINE_UNAVAILABLE: 503,
  /** A configured engine cannot run as configured (its command or model is missing); never replaced silently. */
  ENGINE_MISCONFIGURED: 503,
  /** An engine's own timeout (`engines[].timeout_s`) fired during synthesis; only the engine side reports it. */
  ENGINE_TIMEOUT: 504,
  /** The request's deadline (`deadline_s`, `default_deadline_s`, MQTT message expiry) passed. */
  DEADLINE_EXCEEDED: 504,
  /** Another operation ran out of its time limit (a listing, a call to Home Assistant); the message names it. */
  TIMEOUT: 504,
  ENGINE_FAILED: 502,
  ENGINE_BAD_RESPONSE: 502,
  ALL_ENGINES_FAILED: 503,
  FFMPEG_NOT_FOUND: 500,
  FFMPEG_FAILED: 500,
  ENCODER_FAILED: 500,
  /** The audio cache on the share could not read or write a file (shared/fs-errors.ts); fixes: `cache.*`. */
  CACHE_IO: 500,
  /** Any other file on the share (recordings, their sidecars) could not be read or written (shared/fs-errors.ts). */
  STORAGE_IO: 500,
  /** The share volume is full or over quota (ENOSPC, EDQUOT), for the cache and recordings alike. */
  DISK_FULL: 507,
  SINK_UNREACHABLE: 502,
  SINK_FAILED: 502,
  WYOMING_PROTOCOL: 502,
  SHUTTING_DOWN: 503,
  /** A journaled MQTT request was started `mqtt.max_attempts` times without finishing (the hub died each time). */
  REQUEST_ABANDONED: 500,
  ABORTED: 499,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
} as const;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Stable warning codes: a successful result may carry `warnings: [{code, message}]` for something the user
 * should fix although the request was served.
 * - CACHE_DEGRADED: the share volume refused the cache write (full, over quota, read-only); the audio was
 *   delivered from memory and is not on disk (lost at restart).
 */
export const WARNING_CODES = ['CACHE_DEGRADED'] as const;

/** One of the stable warning codes. */
export type WarningCode = (typeof WARNING_CODES)[number];

/** A warning on a successful result. */
export interface Warning {
  code: WarningCode;
  message: string;
}

/** The error every domain throws: a stable `code`, a message that says what to do, and the wrapped `cause`. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly httpStatus: number;
  /** Extra structured facts for logs (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.httpStatus = ERROR_CODES[code];
    this.details = opts.details;
  }
}

/** True when `err` is an AppError, optionally with the given code. */
export function isAppError(err: unknown, code?: ErrorCode): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code);
}

/**
 * Wraps anything thrown into an AppError, keeping an AppError as it is.
 * An AbortError becomes `ABORTED`; a bare `TimeoutError` (from `AbortSignal.timeout`) `fallback` when the caller
 * names one, else `TIMEOUT` (never ENGINE_TIMEOUT: the engine side reports its own timeouts, see
 * tts/engine-attempt.ts and tts/engines/engine-errors.ts); anything else `fallback` with the original message.
 */
export function toAppError(err: unknown, fallback: ErrorCode = 'INTERNAL'): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof Error && err.name === 'AbortError') {
    return new AppError('ABORTED', err.message, { cause: err });
  }
  if (err instanceof Error && err.name === 'TimeoutError') {
    return new AppError(fallback === 'INTERNAL' ? 'TIMEOUT' : fallback, err.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new AppError(fallback, message, { cause: err });
}

/** The wire shape of an error in results: `{code, message}`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** Converts any thrown value into the `{code, message}` body sent to users. 5xx internals stay generic. */
export function errorBody(err: unknown): ErrorBody {
  const e = toAppError(err);
  const message = e.code === 'INTERNAL' ? 'internal error; see the add-on log' : e.message;
  return { code: e.code, message };
}

/**
 * An AbortSignal that aborts with `reason()` after `ms` milliseconds, like `AbortSignal.timeout(ms)` but with an
 * error that names what timed out (so a derivation's timeout never reads as an engine's). The timer is unref'd:
 * it never keeps the process alive.
 */
export function timeoutSignal(ms: number, reason: () => AppError): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(reason()), ms);
  timer.unref();
  return controller.signal;
}
