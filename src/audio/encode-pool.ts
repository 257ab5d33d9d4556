/**
 * The Opus encode threads (node:worker_threads running encode-worker.ts): a small pool that the in-process
 * encoder (inprocess-encoder.ts) hands its encodes to, so that resampling, libopus and the Ogg pages run on
 * another core than the main thread's HTTP, MQTT, cache and engine work. One thread serves several encodes at
 * once; a new encode goes to the thread with the fewest running.
 *
 * A thread that dies (an exception, `terminate()`, running out of memory) fails only the encodes it had, with
 * ENCODER_FAILED, and is replaced at once (when it had started fine) or at the next encode. Threads hold the
 * process open only while they encode.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '../shared/errors.js';
import type { FromEncodeThread, ToEncodeThread } from './encode-protocol.js';
import type { AudioFormat } from './format.js';
import type { LibopusBuild, OpusEncodeSettings } from './opus-encoder.js';

/** What receives one encode's messages from its thread. */
export interface EncodeSink {
  /** A `pages`, `end` or `error` message of this encode. */
  onMessage(m: Exclude<FromEncodeThread, { t: 'ready' }>): void;
  /** The thread died: the encode is lost (AppError ENCODER_FAILED). */
  onThreadDeath(err: AppError): void;
}

/** One encode on a thread: send PCM, finish, or abandon it. */
export interface EncodeChannel {
  /** Sends PCM (copied into a buffer of its own, which is moved to the thread). */
  push(pcm: Buffer): void;
  /** Asks for the last pages (answered by `end`); the encode then leaves the thread. */
  finish(): void;
  /** Abandons the encode (nothing more is answered); safe to call twice or after `end`. */
  close(): void;
}

/** One thread and the encodes it runs. */
interface EncodeThread {
  worker: Worker;
  sinks: Map<number, EncodeSink>;
  /** Resolves when the thread has loaded libopus and encoded its test tone. */
  ready: Promise<LibopusBuild>;
  started: boolean;
  error: Error | undefined;
}

/**
 * The default number of encode threads: 2 when the process may use 2 cores or more, else none (a thread on a
 * single core only adds overhead). Two, not one, on two cores: measured with espeak-ng at 30 distinct says a
 * second for 20 s (bench/load-profile.ts --rate 30), p50 say→result was 3.6 s on the main thread alone (a
 * growing queue), 490 ms with one thread and 83 ms with two, because with one thread the encodes wait for each
 * other while the main thread's core idles. More than two are never needed: two encode about 70 says a second.
 */
export function defaultEncodeThreads(): number {
  return availableParallelism() >= 2 ? 2 : 0;
}

/**
 * Loads libopus's native addon (`@evan/opus`) on the main thread before any encode thread does, and keeps it.
 * Node unloads (dlclose) an addon when the last thread that loaded it ends; @evan/opus's native build does not
 * survive that: the whole process dies of SIGSEGV when the only thread that had loaded it is terminated
 * (reproduced here on Node 20 and 22). Held open by the main thread, the library is never unloaded (the pattern
 * of nodejs/node#43534).
 */
function pinLibopus(): void {
  createRequire(import.meta.url)('@evan/opus');
}

/**
 * The worker's module: the built JavaScript, or from sources (tsx, vitest) a bootstrap that registers tsx's
 * TypeScript loader in the thread first (Node 20 does not pass `--import` on to worker threads).
 */
function workerScript(): { script: string | URL; evalScript: boolean } {
  if (!import.meta.url.endsWith('.ts')) {
    return { script: new URL('./encode-worker.js', import.meta.url), evalScript: false };
  }
  const worker = JSON.stringify(new URL('./encode-worker.ts', import.meta.url).href);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const script = `import(${tsx}).then((tsx) => { tsx.register(); return import(${worker}); });`;
  return { script, evalScript: true };
}

/**
 * A pool of `size` encode threads (at least 1), started now; each loads libopus and encodes a test tone so
 * the first say pays none of it. `ready` rejects when a thread cannot work here.
 */
export class EncodePool {
  private readonly threads: Array<EncodeThread | undefined>;
  private nextId = 1;
  private stopped = false;

  constructor(readonly size: number) {
    pinLibopus();
    this.threads = Array.from({ length: Math.max(1, size) }, () => undefined);
    for (let i = 0; i < this.threads.length; i++) this.threads[i] = this.spawn(i);
  }

  /** Resolves with the libopus build once every thread is ready. @throws Error when one cannot start. */
  async ready(): Promise<LibopusBuild> {
    const builds = await Promise.all(this.threads.map((t) => t?.ready));
    return builds[0] as LibopusBuild;
  }

  /** The running threads (for diagnostics and tests: a test ends one to check that only its encodes fail). */
  workers(): Worker[] {
    return this.threads.flatMap((t) => (t ? [t.worker] : []));
  }

  /** Encodes now running on the threads. */
  get running(): number {
    return this.threads.reduce((n, t) => n + (t?.sinks.size ?? 0), 0);
  }

  /**
   * Opens an encode of PCM in `format` on the least busy thread (starting a thread where one died).
   * @throws AppError SHUTTING_DOWN after `stop()`.
   */
  open(format: AudioFormat, settings: OpusEncodeSettings, sink: EncodeSink): EncodeChannel {
    if (this.stopped) throw new AppError('SHUTTING_DOWN', 'the Opus encode threads are stopped');
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      this.threads[i] ??= this.spawn(i);
      if ((this.threads[i] as EncodeThread).sinks.size < (this.threads[best] as EncodeThread).sinks.size)
        best = i;
    }
    const thread = this.threads[best] as EncodeThread;
    const id = this.nextId++;
    if (thread.sinks.size === 0) thread.worker.ref(); // an encode in flight keeps the process alive
    thread.sinks.set(id, sink);
    const send = (m: ToEncodeThread, transfer: ArrayBuffer[] = []): void =>
      thread.worker.postMessage(m, transfer);
    const leave = (): boolean => this.forget(thread, id);
    send({ t: 'open', id, format, settings });
    return {
      push(pcm) {
        if (!thread.sinks.has(id)) return;
        const own = new Uint8Array(pcm.length); // the caller keeps its PCM (live listeners read it): copy once
        own.set(pcm);
        send({ t: 'push', id, pcm: own }, [own.buffer]);
      },
      finish() {
        if (thread.sinks.has(id)) send({ t: 'finish', id });
      },
      close() {
        if (leave()) send({ t: 'close', id });
      },
    };
  }

  /** Ends every thread; their encodes fail with SHUTTING_DOWN. */
  async stop(): Promise<void> {
    this.stopped = true;
    const threads = this.threads.splice(0);
    for (const t of threads) {
      if (!t) continue;
      const err = new AppError('SHUTTING_DOWN', 'the Opus encode threads were stopped mid-encode');
      for (const sink of t.sinks.values()) sink.onThreadDeath(err);
      t.sinks.clear();
    }
    await Promise.all(threads.map((t) => t?.worker.terminate()));
  }

  /** Takes encode `id` off `thread`; true when it was there. */
  private forget(thread: EncodeThread, id: number): boolean {
    const had = thread.sinks.delete(id);
    if (had && thread.sinks.size === 0) thread.worker.unref();
    return had;
  }

  /** Starts thread `slot`. */
  private spawn(slot: number): EncodeThread {
    const { script, evalScript } = workerScript();
    const worker = new Worker(script, { eval: evalScript, name: `opus-encode-${slot}` });
    let onReady: (build: LibopusBuild) => void = () => {};
    const thread: EncodeThread = {
      worker,
      sinks: new Map(),
      ready: new Promise((resolve) => {
        onReady = resolve;
      }),
      started: false,
      error: undefined,
    };
    worker.on('message', (m: FromEncodeThread) => {
      if (m.t === 'ready') {
        // Held open while it starts (someone awaits `ready`), then only while it encodes.
        if (thread.sinks.size === 0) worker.unref();
        thread.started = true;
        onReady(m.build);
        return;
      }
      const sink = thread.sinks.get(m.id);
      if (m.t !== 'pages') this.forget(thread, m.id);
      sink?.onMessage(m);
    });
    worker.on('error', (err) => {
      thread.error = err;
    });
    worker.on('exit', (code) => this.onExit(slot, thread, code));
    thread.ready = Promise.race([
      thread.ready,
      new Promise<never>((_, reject) => {
        worker.once('exit', (code) =>
          reject(
            new Error(`Opus encode thread exited (code ${code}): ${thread.error?.message ?? 'no error'}`),
          ),
        );
      }),
    ]);
    thread.ready.catch(() => {}); // read through ready(); a thread that dies later is handled by onExit
    worker.postMessage({ t: 'prepare' } satisfies ToEncodeThread);
    return thread;
  }

  /** A thread ended: its encodes fail; it is replaced now if it had started fine, else at the next encode. */
  private onExit(slot: number, thread: EncodeThread, code: number): void {
    if (this.threads[slot] === thread) this.threads[slot] = undefined;
    const why = thread.error ? `: ${thread.error.message}` : '';
    const err = new AppError(
      'ENCODER_FAILED',
      `the Opus encode thread stopped mid-encode (exit code ${code}${why}); this say failed, the next one gets a new thread`,
      { cause: thread.error },
    );
    for (const sink of thread.sinks.values()) sink.onThreadDeath(err);
    thread.sinks.clear();
    if (!this.stopped && thread.started && this.threads[slot] === undefined)
      this.threads[slot] = this.spawn(slot);
  }
}
