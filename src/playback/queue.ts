/**
 * A per-target queue: one delivery plays at a time on a target, in arrival order, except that a `high`
 * priority delivery goes ahead of waiting normal ones and interrupts a normal one that is playing
 * (its signal aborts with an AppError ABORTED, and the high one starts once it has let go).
 * A high delivery does not interrupt another high one: urgent messages queue behind each other.
 */

import type { Priority } from '../say/request.js';
import { AppError } from '../shared/errors.js';

interface Entry {
  priority: Priority;
  controller: AbortController;
  start(): void;
}

/** One target's queue. */
export class TargetQueue {
  private current: Entry | undefined;
  private readonly waiting: Entry[] = [];

  constructor(private readonly targetName: string) {}

  /** Deliveries playing or waiting. */
  get depth(): number {
    return this.waiting.length + (this.current ? 1 : 0);
  }

  /**
   * Runs `job` when it is this delivery's turn, with a signal that aborts when `signal` aborts or a high
   * priority delivery interrupts it.
   * @throws whatever `job` throws; the abort reason when `signal` aborts while waiting.
   */
  async run<T>(
    priority: Priority,
    signal: AbortSignal,
    job: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    signal.throwIfAborted();
    const controller = new AbortController();
    let started!: () => void;
    const turn = new Promise<void>((resolve) => {
      started = resolve;
    });
    const entry: Entry = { priority, controller, start: started };
    this.enqueue(entry);
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([turn, aborted(controller.signal)]);
      return await job(controller.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.release(entry);
    }
  }

  /** Aborts every delivery (shutdown). */
  abortAll(reason: Error): void {
    for (const e of [...this.waiting, ...(this.current ? [this.current] : [])]) e.controller.abort(reason);
  }

  private enqueue(entry: Entry): void {
    if (entry.priority === 'high') {
      const firstNormal = this.waiting.findIndex((e) => e.priority !== 'high');
      this.waiting.splice(firstNormal < 0 ? this.waiting.length : firstNormal, 0, entry);
      if (this.current?.priority === 'normal') {
        this.current.controller.abort(
          new AppError('ABORTED', `interrupted on target '${this.targetName}' by a high-priority request`),
        );
      }
    } else {
      this.waiting.push(entry);
    }
    this.pump();
  }

  private release(entry: Entry): void {
    if (this.current === entry) this.current = undefined;
    const i = this.waiting.indexOf(entry);
    if (i >= 0) this.waiting.splice(i, 1);
    this.pump();
  }

  private pump(): void {
    if (this.current) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.current = next;
    next.start();
  }
}

/** Rejects with the signal's reason once it aborts (never resolves). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
