/**
 * The lifecycle every area's builder returns (STYLE "Boundaries": anything with a lifecycle has `start` and
 * `stop`), after zigbee2mqtt's extension list (`lib/controller.ts`), without its global settings: the
 * composition root (`hub.ts`) keeps a list of services, starts them in order and stops them in reverse.
 */
import type { Log } from './log.js';

/** One area of the hub as the composition root drives it. */
export interface Service {
  /** For logs: which service failed to stop. */
  readonly name: string;
  /** Starts the area; `signal` aborts a start that waits (the broker's first connect, recovery). */
  start(signal?: AbortSignal): Promise<void>;
  /** Stops the area; in-flight work gets `graceMs` to finish before it is cancelled. Safe before `start`. */
  stop(graceMs: number): Promise<void>;
}

/** A service with nothing to start or stop beyond the given steps (each defaults to nothing). */
export function service(
  name: string,
  steps: {
    start?: (signal?: AbortSignal) => Promise<void> | void;
    stop?: (graceMs: number) => Promise<void> | void;
  },
): Service {
  return {
    name,
    async start(signal) {
      await steps.start?.(signal);
    },
    async stop(graceMs) {
      await steps.stop?.(graceMs);
    },
  };
}

/**
 * Services started in order but stopped together: the inputs that take requests and the say service they wait
 * on, so each input's drain and the say service's grace run at once (stopping one after the other would add
 * the grace per input). A failing stop is logged; the others still run.
 */
export function together(name: string, services: readonly Service[], log: Log): Service {
  return {
    name,
    async start(signal) {
      for (const s of services) await s.start(signal);
    },
    async stop(graceMs) {
      await Promise.all(services.map((s) => stopLogged(s, graceMs, log)));
    },
  };
}

/** Stops `s`; a failure is logged at warn (`<name> stop failed`), never thrown. */
export async function stopLogged(s: Service, graceMs: number, log: Log): Promise<void> {
  try {
    await s.stop(graceMs);
  } catch (err) {
    log.warn({ err, service: s.name }, `${s.name} stop failed`);
  }
}
