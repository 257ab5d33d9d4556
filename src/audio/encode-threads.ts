/**
 * When the in-process Opus encodes leave the main thread: the process-wide holder of the encode threads
 * (encode-pool.ts) that inprocess-encoder.ts asks, per encode, where to run.
 *
 * The hub starts its threads on demand: a say encodes on the main thread while it is the only encode running
 * (a quiet hub pays no thread hop and holds no thread's memory, about 17 MB each), and the threads start when an
 * encode begins while another is running; from then on every encode runs on them until they have had nothing to
 * do for `idleStopMs`. Tests start them at once (`eager`).
 */
import { EncodePool } from './encode-pool.js';
import type { LibopusBuild } from './opus-encoder.js';

/** When the encode threads start and stop. */
export interface EncodeThreadsPolicy {
  /** True: start now and resolve once they work; false: start when an encode begins while another runs. */
  eager: boolean;
  /** Stop them after this many ms without an encode (0: never); they start again on demand. */
  idleStopMs: number;
}

/** After a pool failed to start, on-demand starts are not tried again for this long, in ms. */
const RETRY_AFTER_FAILURE_MS = 60_000;

/** The encode threads of this process and the state that decides where an encode runs. */
class EncodeThreads {
  users = 0;
  private pool: EncodePool | undefined;
  private ready = false;
  private mainRunning = 0;
  private lastUse = 0;
  private retryAt = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    readonly size: number,
    readonly policy: EncodeThreadsPolicy,
  ) {
    if (policy.idleStopMs > 0) {
      this.timer = setInterval(() => this.stopIfIdle(), Math.max(10, policy.idleStopMs / 4));
      this.timer.unref();
    }
  }

  /** The pool to encode on now; undefined: encode on the main thread (and maybe start the pool for later). */
  poolForNext(): EncodePool | undefined {
    this.lastUse = Date.now();
    if (this.pool && this.ready) return this.pool;
    if (!this.pool && this.mainRunning > 0 && Date.now() >= this.retryAt) void this.start().catch(() => {});
    return undefined;
  }

  /** Counts an encode running on the main thread until the returned function is called. */
  onMain(): () => void {
    this.mainRunning++;
    return () => {
      this.mainRunning--;
    };
  }

  /** The pool, started or starting (for diagnostics and tests). */
  get current(): EncodePool | undefined {
    return this.pool;
  }

  /** Starts the pool (unless one runs); resolves once it works. @throws Error when a thread cannot start. */
  async start(): Promise<LibopusBuild> {
    const pool = this.pool ?? new EncodePool(this.size);
    this.pool = pool;
    this.lastUse = Date.now();
    try {
      const build = await pool.ready();
      if (this.pool === pool) this.ready = true;
      return build;
    } catch (err) {
      this.retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
      if (this.pool === pool) this.pool = undefined;
      await pool.stop();
      throw err;
    }
  }

  /** Stops the pool; encodes on it fail with SHUTTING_DOWN. */
  async stop(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.ready = false;
    await pool?.stop();
  }

  /** Ends the idle timer and the pool. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.stop();
  }

  private stopIfIdle(): void {
    if (!this.pool || !this.ready || this.pool.running > 0) return;
    if (Date.now() - this.lastUse >= this.policy.idleStopMs) this.stop().catch(() => {});
  }
}

let threads: EncodeThreads | undefined;

/**
 * Lets this process's in-process encodes run on `size` encode threads (see the module comment) until the
 * returned release is called; 0 keeps them on the main thread. Hubs in one process share one holder (the
 * first one's size and policy); the threads end when the last user releases them. With `eager`, resolves
 * once the threads have loaded libopus, with its build.
 * @throws Error when `eager` and no encode thread can start here (the encodes then stay on the main thread).
 */
export async function useEncodeThreads(
  size: number,
  policy: EncodeThreadsPolicy = { eager: true, idleStopMs: 0 },
): Promise<{ build: LibopusBuild | undefined; release(): Promise<void> }> {
  if (size <= 0) return { build: undefined, release: async () => {} };
  threads ??= new EncodeThreads(size, policy);
  const mine = threads;
  mine.users++;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    if (--mine.users > 0) return;
    if (threads === mine) threads = undefined;
    await mine.close();
  };
  if (!mine.policy.eager) return { build: undefined, release };
  try {
    return { build: await mine.start(), release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Where the next encode runs: a ready pool, or undefined for the main thread. */
export function encodePoolForNext(): EncodePool | undefined {
  return threads?.poolForNext();
}

/** Counts an encode on the main thread (so that a second one starts the threads); call the result at its end. */
export function countMainEncode(): () => void {
  return threads?.onMain() ?? (() => {});
}

/** The encode threads' pool, started or starting, if any (for diagnostics and tests). */
export function encodeThreads(): EncodePool | undefined {
  return threads?.current;
}
