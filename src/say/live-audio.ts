/**
 * Live audio: the encoded bytes of a synthesis while it runs, readable by several HTTP listeners at once
 * (each late joiner first gets the bytes so far, then live bytes), keyed by cache key and format. The same
 * registry is the single-flight of identical requests: a request whose key is live joins the job instead
 * of running the engine again. When a job ends its bytes are already the cache entry (committed before the
 * job ends), so a later GET finds the file. Aliases send a request's first URL to the audio a fallback
 * engine made under another key.
 */
import { Readable } from 'node:stream';
import type { AudioChunk, AudioFormat, OutputFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';

/** How long an alias (first key → fallback key) is remembered, in ms. */
const ALIAS_TTL_MS = 15 * 60_000;
/** At most this many aliases are kept. */
const MAX_ALIASES = 1000;

/** The state of a live job: running, ended with every byte, or failed (its bytes are not a valid file). */
export type LiveState = 'running' | 'ended' | 'failed';

/** One listener: a byte stream fed by the job, and whether it has been given bytes of this attempt. */
interface Listener {
  stream: Readable;
  fed: boolean;
}

/**
 * The bytes of one synthesis as they are encoded, and the PCM that went into the encoder (one format for the
 * whole job, gain applied), so consumers that want samples (the Wyoming server, PCM/WAV answers, a live
 * derivation in another format) read them without decoding. Only the say service writes; the others read.
 */
export class LiveJob {
  private chunks: Buffer[] = [];
  private readonly listeners = new Set<Listener>();
  private pcm: AudioChunk[] = [];
  private readonly pcmListeners = new Set<Listener>();
  private pcmBytesTotal = 0;
  private current: LiveState = 'running';
  private failure: Error | undefined;
  private readonly holds = new Set<Promise<void>>();

  constructor(
    readonly key: string,
    readonly format: OutputFormat,
  ) {}

  get state(): LiveState {
    return this.current;
  }

  /** Appends encoded bytes and hands them to every listener. */
  push(buf: Buffer): void {
    if (this.current !== 'running' || buf.length === 0) return;
    this.chunks.push(buf);
    for (const l of this.listeners) {
      l.fed = true;
      l.stream.push(buf);
    }
  }

  /**
   * Appends PCM as it goes into the encoder and hands it to every PCM listener. The caller keeps one format
   * for the whole job (the first chunk's); empty chunks are ignored.
   */
  pushPcm(chunk: AudioChunk): void {
    if (this.current !== 'running' || chunk.pcm.length === 0) return;
    this.pcm.push(chunk);
    this.pcmBytesTotal += chunk.pcm.length;
    for (const l of this.pcmListeners) {
      l.fed = true;
      l.stream.push(chunk);
    }
  }

  /** The format of the job's PCM; undefined before the first chunk (or when the audio came from a file). */
  get pcmFormat(): AudioFormat | undefined {
    return this.pcm[0]?.format;
  }

  /** Bytes of PCM pushed by the current attempt (0 when the audio was replayed from a cached file). */
  get pcmBytes(): number {
    return this.pcmBytesTotal;
  }

  /**
   * Starts over for another attempt (a fallback engine): listeners that already got bytes (or PCM) of the
   * failed attempt are ended with an error (their audio would not be continuous); those still waiting stay
   * and get the new attempt from its start.
   */
  restart(reason: Error): void {
    if (this.current !== 'running') return;
    for (const set of [this.listeners, this.pcmListeners]) {
      for (const l of set) {
        if (!l.fed) continue;
        set.delete(l);
        l.stream.destroy(reason);
      }
    }
    this.chunks = [];
    this.pcm = [];
    this.pcmBytesTotal = 0;
  }

  /** Ends every listener's stream normally; later readers get the whole buffer. */
  end(): void {
    if (this.current !== 'running') return;
    this.current = 'ended';
    for (const l of [...this.listeners, ...this.pcmListeners]) l.stream.push(null);
    this.listeners.clear();
    this.pcmListeners.clear();
  }

  /** Ends every listener's stream with `err` (the HTTP response is cut, so players see a broken stream). */
  fail(err: Error): void {
    if (this.current !== 'running') return;
    this.current = 'failed';
    this.failure = err;
    for (const l of [...this.listeners, ...this.pcmListeners]) l.stream.destroy(err);
    this.listeners.clear();
    this.pcmListeners.clear();
    this.chunks = [];
    this.pcm = [];
  }

  /**
   * A stream of the job's bytes: everything so far, then live bytes, then the end.
   * @throws AppError NOT_FOUND when the job failed.
   */
  subscribe(): Readable {
    if (this.current === 'failed') {
      throw new AppError('NOT_FOUND', `audio ${this.key}.${this.format} failed: ${this.failure?.message}`);
    }
    const listener: Listener = {
      stream: new Readable({
        read() {},
        destroy: (err, done) => {
          this.listeners.delete(listener);
          done(err);
        },
      }),
      fed: this.chunks.length > 0,
    };
    for (const c of this.chunks) listener.stream.push(c);
    if (this.current === 'ended') listener.stream.push(null);
    else this.listeners.add(listener);
    return listener.stream;
  }

  /**
   * Holds the engine's second sentence until `ready` settles (at most the speech's ENCODED_WAIT_MS, see
   * say/speech.ts): for a reader that re-encodes this job's audio in a process of its own (ffmpeg at nice 10),
   * whose first output would otherwise wait for CPU while the engine (Piper: one thread per core) speaks the
   * next sentence. A rejected `ready` counts as settled.
   */
  holdFirstOutput(ready: Promise<void>): void {
    const settled = ready.catch(() => {});
    this.holds.add(settled);
    void settled.then(() => this.holds.delete(settled));
  }

  /** Settles once every hold registered so far has settled (at once when there is none). */
  holdsSettled(): Promise<void> {
    return Promise.all(this.holds).then(() => {});
  }

  /**
   * The job's PCM as AudioChunks (one format): everything so far, then live chunks, then the end. Ends with no
   * chunk at all when the audio was replayed from a cached file (`pcmBytes` 0): read the final file then.
   * The iterator throws the failure (or the restart reason, once it had PCM of the failed attempt).
   * @throws AppError NOT_FOUND when the job failed already.
   */
  subscribePcm(): AsyncIterable<AudioChunk> {
    if (this.current === 'failed') {
      throw new AppError('NOT_FOUND', `audio ${this.key}.${this.format} failed: ${this.failure?.message}`);
    }
    const listener: Listener = {
      stream: new Readable({
        objectMode: true,
        read() {},
        destroy: (err, done) => {
          this.pcmListeners.delete(listener);
          done(err);
        },
      }),
      fed: this.pcm.length > 0,
    };
    for (const c of this.pcm) listener.stream.push(c);
    if (this.current === 'ended') listener.stream.push(null);
    else this.pcmListeners.add(listener);
    return listener.stream as AsyncIterable<AudioChunk>;
  }
}

/** The running jobs by `<key>.<format>`, and aliases left by fallbacks. */
export interface LiveRegistry {
  /** The job for key and format, following an alias (for serving a URL); undefined when none runs. */
  get(key: string, format: OutputFormat): LiveJob | undefined;
  /** The job registered under exactly this key and format (for single-flight); undefined when none runs. */
  find(key: string, format: OutputFormat): LiveJob | undefined;
  /** Registers a new job. @throws AppError CONFLICT when one is already registered under the id. */
  create(key: string, format: OutputFormat): LiveJob;
  /**
   * Registers a live derivation (the speech of a running job in another format, live-derive.ts): served by
   * `get` like a job, but not a flight (`find` does not see it), so a say of that format still runs its own.
   * Returns the derivation already registered under the id, if any, with `created: false`.
   */
  createDerived(key: string, format: OutputFormat): { job: LiveJob; created: boolean };
  /** Forgets a job (after it ended and its cache entry exists, or after it failed). */
  remove(job: LiveJob): void;
  /** Sends `from` to `to` (the key a fallback engine produced) for a while. */
  alias(from: string, to: string, format: OutputFormat): void;
  /** The key `key` now stands for (itself without an alias). */
  resolve(key: string, format: OutputFormat): string;
  /** Jobs running now. */
  size(): number;
}

/** Creates an empty registry. */
export function createLiveRegistry(): LiveRegistry {
  const jobs = new Map<string, LiveJob>();
  const derived = new Map<string, LiveJob>();
  const aliases = new Map<string, { to: string; untilMs: number }>();
  const id = (key: string, format: OutputFormat): string => `${key}.${format}`;
  const resolve = (key: string, format: OutputFormat): string => {
    const a = aliases.get(id(key, format));
    if (!a) return key;
    if (a.untilMs < Date.now()) {
      aliases.delete(id(key, format));
      return key;
    }
    return a.to;
  };
  return {
    get(key, format) {
      const at = (k: string): LiveJob | undefined => jobs.get(id(k, format)) ?? derived.get(id(k, format));
      return at(key) ?? at(resolve(key, format));
    },
    find: (key, format) => jobs.get(id(key, format)),
    create(key, format) {
      if (jobs.has(id(key, format))) throw new AppError('CONFLICT', `audio ${key}.${format} is already live`);
      const job = new LiveJob(key, format);
      jobs.set(id(key, format), job);
      return job;
    },
    createDerived(key, format) {
      const running = derived.get(id(key, format));
      if (running) return { job: running, created: false };
      const job = new LiveJob(key, format);
      derived.set(id(key, format), job);
      return { job, created: true };
    },
    remove(job) {
      for (const map of [jobs, derived]) {
        if (map.get(id(job.key, job.format)) === job) map.delete(id(job.key, job.format));
      }
    },
    alias(from, to, format) {
      if (from === to) return;
      aliases.delete(id(from, format));
      aliases.set(id(from, format), { to, untilMs: Date.now() + ALIAS_TTL_MS });
      while (aliases.size > MAX_ALIASES) aliases.delete(aliases.keys().next().value as string);
    },
    resolve,
    size: () => jobs.size,
  };
}
