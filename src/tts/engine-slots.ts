import type { Priority } from './say-request.js';

/** Gives back a slot taken with {@link EngineSlots.acquire}; calling it again does nothing. */
export type ReleaseSlot = () => void;

/**
 * One engine's concurrency limit (`max_parallel`) with two queues: a waiting `high` request is served
 * before every waiting `normal` one; within a priority, first come first served. p-limit has no
 * priorities, hence this small queue.
 */
export interface EngineSlots {
  /** Slots in use now. */
  readonly active: number;
  /** Requests waiting for a slot now. */
  readonly queued: number;
  /**
   * Resolves with a release function once a slot is free. Aborting `signal` while waiting removes the
   * request from the queue and rejects with the abort reason; an already aborted signal rejects at once.
   */
  acquire(priority: Priority, signal: AbortSignal): Promise<ReleaseSlot>;
}

interface Waiter {
  grant(): void;
}

/** Builds the slots of one engine. @param maxParallel slots, at least 1. */
export function createEngineSlots(maxParallel: number): EngineSlots {
  const queues: Record<Priority, Waiter[]> = { high: [], normal: [] };
  let active = 0;

  const releaser = (): ReleaseSlot => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      const next = queues.high.shift() ?? queues.normal.shift();
      next?.grant();
    };
  };

  return {
    get active() {
      return active;
    },
    get queued() {
      return queues.high.length + queues.normal.length;
    },
    acquire(priority, signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (active < maxParallel) {
        active++;
        return Promise.resolve(releaser());
      }
      return new Promise<ReleaseSlot>((resolve, reject) => {
        const queue = queues[priority];
        const onAbort = (): void => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(signal.reason);
        };
        const waiter: Waiter = {
          grant() {
            signal.removeEventListener('abort', onAbort);
            active++;
            resolve(releaser());
          },
        };
        queue.push(waiter);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
