import { type Logger, type LoggerOptions, pino } from 'pino';
import { redactCredentials, redactDeep } from './redact.js';

/** A pino logger; modules take `log.child({ mod: 'name' })`. */
export type Log = Logger;

/** Log levels accepted by the `log_level` option. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * pino options of the root logger: level, and redaction of secrets (fastify gets a child of the root): fields
 * named like secrets are censored, and credentials inside URLs (`mqtt://user:pass@host`) are cut out of every
 * message and field, wherever the URL was quoted (an error message, a `url` field).
 */
export function logOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    base: undefined,
    formatters: { log: (object) => redactDeep(object) },
    hooks: {
      logMethod(args, method) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redactCredentials(a) : a)) as Parameters<typeof method>,
        );
      },
    },
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'api_token',
        '*.api_token',
        'req.headers.authorization',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  };
}

/** Creates the root logger (JSON lines on stdout). */
export function createLog(level: LogLevel = 'info'): Log {
  return pino(logOptions(level));
}

/** A logger that drops everything, for tests and benchmarks. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
