import { type Logger, type LoggerOptions, pino } from 'pino';

/** A pino logger; modules take `log.child({ mod: 'name' })`. */
export type Log = Logger;

/** Log levels accepted by the `log_level` option. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** pino options of the root logger: level, and redaction of secrets (fastify gets a child of the root). */
export function logOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    base: undefined,
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
