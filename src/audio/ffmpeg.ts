import { execFileSync } from 'node:child_process';
import { setPriority } from 'node:os';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, toAppError } from '../shared/errors.js';
import { type Child, type ChildExit, KILL_GRACE_MS, startChild } from './child-process.js';
import { isWaiting, leaveQueue, mayStartNow, takeSlot, waitForSlot } from './ffmpeg-slots.js';

/** How long after SIGTERM an aborted ffmpeg gets before SIGKILL, in ms (the one grace of child-process.ts). */
export { KILL_GRACE_MS };

let ffmpegPath: string | undefined;
let spawnCount = 0;

/**
 * Finds the ffmpeg binary once (`$FFMPEG_PATH`, else `ffmpeg` on PATH) and checks it runs.
 * @throws AppError FFMPEG_NOT_FOUND with an install hint.
 */
export function findFfmpeg(): string {
  if (ffmpegPath) return ffmpegPath;
  const candidate = process.env.FFMPEG_PATH || 'ffmpeg';
  try {
    execFileSync(candidate, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
  } catch (err) {
    throw new AppError(
      'FFMPEG_NOT_FOUND',
      `ffmpeg not found as '${candidate}'; install it (apt-get install ffmpeg)`,
      {
        cause: err,
      },
    );
  }
  ffmpegPath = candidate;
  return candidate;
}

/** How many ffmpeg processes this process has started; tests and benchmarks use it to prove a cache hit ran none. */
export function ffmpegSpawnCount(): number {
  return spawnCount;
}

export { DEFAULT_FFMPEG_PROCESSES, ffmpegLoad, setFfmpegLimit } from './ffmpeg-slots.js';

/** A running ffmpeg: write input to `stdin`, read output from `stdout`; `done` settles when it has exited. */
export interface FfmpegProcess {
  /** ffmpeg's stdin; while the process waits for a slot, writes are buffered (see `writableLength`). */
  stdin: Writable;
  stdout: Readable;
  /** Resolves on exit code 0 after `close`; rejects with FFMPEG_FAILED (args, code, stderr tail) or the abort reason. */
  done: Promise<void>;
  /** The process id (undefined while waiting for a slot), for tests that kill it. */
  readonly pid: number | undefined;
  /** True while waiting for a slot under the cap. */
  readonly queued: boolean;
  /** SIGTERM now, SIGKILL after KILL_GRACE_MS if still running; a process still waiting never starts. */
  kill(): void;
}

/**
 * Starts ffmpeg with `args` (an array; no shell), at once when a slot under the cap is free (and no start
 * just happened: see ffmpeg-slots.ts), else when its turn comes (the returned streams are then stand-ins
 * joined to the process when it starts). ffmpeg runs at nice FFMPEG_NICE. Aborting `signal`
 * kills it (SIGTERM, then SIGKILL after KILL_GRACE_MS), or drops it from the line without ever starting it,
 * and `done` rejects with the abort reason. stdin errors (EPIPE when ffmpeg exits early) are swallowed here;
 * the exit status in `done` is what reports the failure.
 * @throws AppError FFMPEG_NOT_FOUND when the binary is missing.
 */
export function runFfmpeg(args: string[], signal?: AbortSignal): FfmpegProcess {
  const bin = findFfmpeg();
  if (mayStartNow()) return spawnNow(bin, args, signal);
  return spawnLater(bin, args, signal);
}

/** Waits in line for a slot; the stand-in streams are piped to the process once it runs. */
function spawnLater(bin: string, args: string[], signal: AbortSignal | undefined): FfmpegProcess {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  stdin.on('error', () => {});
  let proc: FfmpegProcess | undefined;
  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => {});
  const drop = (reason: unknown): void => {
    if (!leaveQueue(start)) return;
    signal?.removeEventListener('abort', onAbort);
    stdin.destroy();
    stdout.destroy();
    settle?.reject(reason);
  };
  const onAbort = (): void =>
    drop(signal?.reason instanceof Error ? signal.reason : new AppError('ABORTED', 'ffmpeg aborted'));
  const start = (): void => {
    signal?.removeEventListener('abort', onAbort);
    let p: FfmpegProcess;
    try {
      p = spawnNow(bin, args, signal);
    } catch (err) {
      stdin.destroy();
      stdout.destroy();
      settle?.reject(err);
      return;
    }
    proc = p;
    // The caller's pipeline ends `stdin`; ffmpeg's own stdin then ends too.
    pipeline(stdin, p.stdin).catch(() => {});
    pipeline(p.stdout, stdout).catch(() => {});
    p.done.then(
      () => settle?.resolve(),
      (err: unknown) => settle?.reject(err),
    );
  };
  if (signal?.aborted) {
    settle?.reject(signal.reason);
    stdin.destroy();
    stdout.destroy();
  } else {
    signal?.addEventListener('abort', onAbort, { once: true });
    waitForSlot(start);
  }
  return {
    stdin,
    stdout,
    done,
    get pid() {
      return proc?.pid;
    },
    get queued() {
      return proc === undefined && isWaiting(start);
    },
    kill() {
      if (proc) proc.kill();
      else drop(new AppError('ABORTED', 'ffmpeg stopped before it started'));
    },
  };
}

/**
 * Niceness of ffmpeg processes: under load the hub's own event loop (MQTT answers, /api/health, live streams)
 * goes first, and ffmpeg gets what is left; on an idle machine it changes nothing.
 */
export const FFMPEG_NICE = 10;

/** Lowers a child's CPU priority to FFMPEG_NICE (a failure, e.g. an exited child, is harmless). */
function lowerPriority(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, FFMPEG_NICE);
  } catch {
    // Gone already, or not permitted: it then runs at normal priority.
  }
}

/** Spawns ffmpeg now, holding one slot until it has exited. */
function spawnNow(bin: string, args: string[], signal: AbortSignal | undefined): FfmpegProcess {
  // -nostdin only disables interactive keys; input still comes from "-i pipe:0" / "-i -".
  const fullArgs = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args];
  const slot = takeSlot();
  const startedAt = performance.now();
  let child: Child;
  try {
    child = startChild({ file: bin, args: fullArgs });
  } catch (err) {
    slot.release();
    throw new AppError('FFMPEG_FAILED', `ffmpeg could not start: ${(err as Error).message}`, { cause: err });
  }
  spawnCount++;
  lowerPriority(child.pid);
  slot.spawned(startedAt);
  const onAbort = (): void => child.kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  const done = child.exited.then(
    (exit) => {
      if (signal?.aborted) throw abortReason(signal);
      if (exit.code === 0) return;
      throw ffmpegFailed(fullArgs, exit, child.stderrTail());
    },
    (err: Error) => {
      throw new AppError('FFMPEG_FAILED', `ffmpeg could not start: ${err.message}`, { cause: err });
    },
  );
  done
    .finally(() => {
      slot.release();
      signal?.removeEventListener('abort', onAbort);
    })
    // A caller that only awaits stdout must not see an unhandled rejection from `done`.
    .catch(() => {});
  if (signal?.aborted) child.kill();
  return { stdin: child.stdin, stdout: child.stdout, done, pid: child.pid, queued: false, kill: child.kill };
}

/** The abort reason of `signal` as an Error (ABORTED when it is not one). */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AppError('ABORTED', 'ffmpeg aborted');
}

/** FFMPEG_FAILED for a non-zero exit: the exit code or signal, the args and the stderr tail. */
function ffmpegFailed(fullArgs: string[], exit: ChildExit, tail: string[]): AppError {
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  return new AppError(
    'FFMPEG_FAILED',
    `ffmpeg failed (${how}): ${tail.slice(-5).join(' | ') || 'no output'}`,
    {
      details: { args: fullArgs, code: exit.code, signal: exit.signal, stderr: tail.join('\n') },
    },
  );
}

/**
 * Writes `input` to a running ffmpeg's stdin with back-pressure (`stream/promises` pipeline) while yielding its
 * stdout. Returns normally only when ffmpeg exited 0 after all input. `proc` must be bound to `internal`'s
 * signal: it is aborted (killing ffmpeg) when `input` fails or the consumer stops early.
 * @throws an error thrown by `input` as is; `callerSignal`'s abort reason; AppError FFMPEG_FAILED otherwise.
 */
export async function* pipeThroughFfmpeg(
  proc: FfmpegProcess,
  input: AsyncIterable<Buffer>,
  callerSignal: AbortSignal,
  internal: AbortController,
): AsyncGenerator<Buffer> {
  const signal = AbortSignal.any([callerSignal, internal.signal]);
  let inputError: unknown;
  async function* source(): AsyncGenerator<Buffer> {
    try {
      yield* input;
    } catch (err) {
      inputError = err;
      internal.abort(err);
      throw err;
    }
  }
  let pipeError: unknown;
  const feeding = pipeline(Readable.from(source()), proc.stdin, { signal }).catch((err: unknown) => {
    pipeError = err;
  });
  let finished = false;
  try {
    for await (const buf of proc.stdout) yield buf as Buffer;
    await feeding;
    if (inputError !== undefined) throw inputError;
    await proc.done;
    if (pipeError !== undefined) throw toAppError(pipeError, 'FFMPEG_FAILED');
    finished = true;
  } catch (err) {
    throw (
      inputError ??
      (callerSignal.aborted ? toAppError(callerSignal.reason) : toAppError(err, 'FFMPEG_FAILED'))
    );
  } finally {
    if (!finished) internal.abort(new AppError('ABORTED', 'ffmpeg stopped before the end of its input'));
  }
}
