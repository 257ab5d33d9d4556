/**
 * Waiters for Hermes `hermes/audioServer/<siteId>/playFinished` (`{id, sessionId}`; rhasspy/rhasspy-hermes
 * `rhasspyhermes/audioserver.py` AudioPlayFinished): the Hermes sink registers one per playBytes request id
 * before publishing, and the MQTT adapter reports every playFinished it receives.
 */
import { AppError } from '../shared/errors.js';

/** Pending playFinished waits, keyed by site and request id. */
export interface PlayFinishedWaiters {
  /**
   * Registers a wait for `id` on `siteId`; register before publishing playBytes so a fast answer is not lost.
   * The promise resolves on the matching playFinished.
   * @throws AppError SINK_FAILED when `timeoutMs` passes first; the abort reason when `signal` aborts.
   */
  wait(siteId: string, id: string, timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Reports a playFinished; returns true when someone was waiting for it. */
  notify(siteId: string, id: string): boolean;
}

/** Creates an empty waiter registry. */
export function createPlayFinishedWaiters(): PlayFinishedWaiters {
  const pending = new Map<string, () => void>();
  const keyOf = (siteId: string, id: string): string => `${siteId}\u0000${id}`;
  return {
    wait(siteId, id, timeoutMs, signal) {
      const key = keyOf(siteId, id);
      return new Promise<void>((resolve, reject) => {
        const done = (err?: unknown): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          pending.delete(key);
          if (err === undefined) resolve();
          else reject(err);
        };
        const onAbort = (): void => done(signal.reason);
        const timer = setTimeout(
          () =>
            done(
              new AppError(
                'SINK_FAILED',
                `Hermes site '${siteId}' sent no playFinished for '${id}' within ${Math.round(timeoutMs / 1000)} s; is its audio server running?`,
              ),
            ),
          timeoutMs,
        );
        if (signal.aborted) return done(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.set(key, () => done());
      });
    },
    notify(siteId, id) {
      const resolve = pending.get(keyOf(siteId, id));
      resolve?.();
      return resolve !== undefined;
    },
  };
}
