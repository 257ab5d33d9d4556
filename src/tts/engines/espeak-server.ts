/**
 * Warm espeak-ng: libespeak-ng loaded once in a small Python process (espeak-server.py, ctypes, standard library
 * only), one utterance per request, instead of one `espeak-ng` process per say.
 *
 * Why (issue 13, measured on this 2-core machine with a 3.8 s espeak-ng sentence): an `espeak-ng --stdout`
 * process costs about 17 ms of CPU, 11 ms of it starting up (35 shared libraries, voice data), and forking it
 * from the hub costs the hub's main thread several ms more; the synthesis itself is about 5 ms.
 *
 * Each process serves one request at a time; `synthesize` takes an idle one or starts another (the dispatcher's
 * `max_parallel` bounds how many run). A request that is aborted or abandoned part-way kills its process (what
 * it would still write cannot be told from the next request's audio). Idle processes are unref'd, so they never
 * keep the hub alive; they exit when their stdin closes (the hub exits) or when killed.
 *
 * Frames (espeak-server.py): 1 type byte + a 4-byte little-endian length + payload; `R` {rate} once at start,
 * `A` s16le mono PCM, `E` end of the request, `X` a failed request (UTF-8 message).
 */
import { fileURLToPath } from 'node:url';
import { type Child, startChild } from '../../audio/child-process.js';
import type { AudioChunk, AudioFormat } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import { abortError } from './engine-errors.js';

/** The Python script, beside this module in src/ and in dist/ (copied by `npm run build`). */
const SCRIPT = fileURLToPath(new URL('./espeak-server.py', import.meta.url));
/** How long a new process may take to load libespeak-ng and say it is ready, in ms. */
const START_TIMEOUT_MS = 10_000;
/** Idle processes kept for the next requests; more are ended. */
const MAX_IDLE = 4;

/** One parsed frame. */
interface Frame {
  kind: string;
  payload: Buffer;
}

/** The bytes a frame still needs once `held` (its first bytes) are there: the header first, then the payload. */
const stillNeeded = (held: Buffer): number => (held.length < 5 ? 5 : 5 + held.readUInt32LE(1)) - held.length;
const frameIn = (bytes: Buffer, size: number): Frame => ({
  kind: String.fromCharCode(bytes[0] as number),
  payload: bytes.subarray(5, 5 + size),
});

/**
 * Splits a byte stream into frames; ends when the stream ends (a cut frame is dropped). Frames inside a chunk
 * are views of it; only a frame cut between chunks is copied (the bytes it still needs, not the next chunk).
 */
async function* framesOf(stream: AsyncIterable<Buffer>): AsyncGenerator<Frame> {
  let held: Buffer = Buffer.alloc(0); // the start of a frame cut at the end of a chunk
  for await (const chunk of stream) {
    let rest = chunk;
    while (held.length > 0 && rest.length > 0) {
      const take = Math.min(stillNeeded(held), rest.length);
      held = Buffer.concat([held, rest.subarray(0, take)]);
      rest = rest.subarray(take);
      if (held.length >= 5 && stillNeeded(held) === 0) {
        yield frameIn(held, held.length - 5);
        held = Buffer.alloc(0);
      }
    }
    while (rest.length >= 5) {
      const size = rest.readUInt32LE(1);
      if (rest.length < 5 + size) break;
      yield frameIn(rest, size);
      rest = rest.subarray(5 + size);
    }
    if (rest.length > 0) held = rest;
  }
}

/** A running espeak-server.py. */
interface ServerProcess {
  child: Child;
  frames: AsyncGenerator<Frame>;
  format: AudioFormat;
}

/** Options of {@link createEspeakServers}. */
export interface EspeakServersOptions {
  /** Engine name, for error messages. */
  engine: string;
  /** The Python interpreter; default `python3`. */
  python?: string;
}

/** Warm espeak-ng processes (see the module comment). */
export interface EspeakServers {
  /**
   * Speaks `text` with `voice` (an espeak-ng voice name, as `-v` takes), yielding s16le mono PCM chunks as
   * espeak-ng makes them. Aborting `signal` (or ending the iteration early) kills the process serving it.
   * @throws AppError ENGINE_UNAVAILABLE when no server can start here (no python3, no libespeak-ng.so.1: the
   *   caller falls back to the CLI); ENGINE_FAILED when espeak-ng refuses the request (unknown voice) or the
   *   process dies; the abort error (ENGINE_TIMEOUT for a timeout signal).
   */
  synthesize(voice: string, text: string, signal: AbortSignal): AsyncGenerator<AudioChunk>;
  /** Kills every idle process. */
  close(): void;
}

/** ENGINE_UNAVAILABLE: no warm process can start (the engine then runs the CLI). */
const unavailable = (engine: string, why: string, cause?: unknown): AppError =>
  new AppError('ENGINE_UNAVAILABLE', `engine '${engine}': warm espeak-ng cannot start: ${why}`, { cause });

/** Starts one process and waits for its R frame. @throws AppError ENGINE_UNAVAILABLE */
async function start(opts: EspeakServersOptions): Promise<ServerProcess> {
  const child = startChild({ file: opts.python ?? 'python3', args: ['-I', '-S', SCRIPT] });
  child.exited.catch(() => {});
  const frames = framesOf(child.stdout as AsyncIterable<Buffer>);
  const timer = setTimeout(() => child.kill(), START_TIMEOUT_MS);
  try {
    const first = await frames.next();
    if (first.done || first.value.kind !== 'R') {
      const said = first.done ? child.stderrTail().slice(-2).join(' | ') : first.value.payload.toString();
      throw unavailable(opts.engine, said || 'the process ended');
    }
    const { rate } = JSON.parse(first.value.payload.toString('utf8')) as { rate: number };
    return { child, frames, format: { rateHz: rate, widthBytes: 2, channels: 1 } };
  } catch (err) {
    child.kill();
    throw err instanceof AppError ? err : unavailable(opts.engine, (err as Error).message, err);
  } finally {
    clearTimeout(timer);
  }
}

/** The next frame of `proc`, or the abort of `signal`. */
function nextFrame(engine: string, proc: ServerProcess, signal: AbortSignal): Promise<IteratorResult<Frame>> {
  if (signal.aborted) return Promise.reject(abortError(engine, signal));
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(engine, signal));
  });
  signal.addEventListener('abort', onAbort, { once: true });
  return Promise.race([proc.frames.next(), aborted]).finally(() =>
    signal.removeEventListener('abort', onAbort),
  );
}

/** Creates the pool of warm espeak-ng processes; none starts before the first request. */
export function createEspeakServers(opts: EspeakServersOptions): EspeakServers {
  const idle: ServerProcess[] = [];
  async function* synthesize(voice: string, text: string, signal: AbortSignal) {
    if (signal.aborted) throw abortError(opts.engine, signal);
    const proc = idle.pop() ?? (await start(opts));
    proc.child.setRef(true);
    let ended = false;
    try {
      proc.child.stdin.write(`${JSON.stringify({ voice, text })}\n`);
      for (;;) {
        const next = await nextFrame(opts.engine, proc, signal);
        if (next.done) {
          const tail = proc.child.stderrTail().slice(-2).join(' | ');
          throw new AppError(
            'ENGINE_FAILED',
            `engine '${opts.engine}': espeak-ng ended: ${tail || 'no output'}`,
          );
        }
        const { kind, payload } = next.value;
        if (kind === 'A') yield { pcm: payload, format: proc.format };
        else if (kind === 'E' || kind === 'X') {
          ended = true;
          if (kind === 'X') {
            throw new AppError(
              'ENGINE_FAILED',
              `engine '${opts.engine}' failed: ${payload.toString('utf8')}`,
            );
          }
          return;
        }
      }
    } finally {
      if (ended && idle.length < MAX_IDLE) {
        proc.child.setRef(false);
        idle.push(proc);
      } else {
        proc.child.kill();
      }
    }
  }

  return {
    synthesize,
    close() {
      for (const proc of idle.splice(0)) proc.child.kill();
    },
  };
}
