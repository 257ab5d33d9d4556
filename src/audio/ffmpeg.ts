import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../shared/errors.js';

/** How long after SIGTERM an aborted ffmpeg gets before SIGKILL, in ms. */
export const KILL_GRACE_MS = 2000;
const STDERR_TAIL_LINES = 20;

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

/** A running ffmpeg: write input to `stdin`, read output from `stdout`; `done` settles when it has exited. */
export interface FfmpegProcess {
  stdin: Writable;
  stdout: Readable;
  /** Resolves on exit code 0 after `close`; rejects with FFMPEG_FAILED (args, code, stderr tail) or the abort reason. */
  done: Promise<void>;
  /** The process id, for tests that kill it. */
  pid: number | undefined;
  /** SIGTERM now, SIGKILL after KILL_GRACE_MS if still running. */
  kill(): void;
}

/**
 * Starts ffmpeg with `args` (an array; no shell). Aborting `signal` kills it (SIGTERM, then SIGKILL after
 * KILL_GRACE_MS) and `done` rejects with the abort reason. stdin errors (EPIPE when ffmpeg exits early) are
 * swallowed here; the exit status in `done` is what reports the failure.
 * @throws AppError FFMPEG_NOT_FOUND when the binary is missing.
 */
export function runFfmpeg(args: string[], signal?: AbortSignal): FfmpegProcess {
  const bin = findFfmpeg();
  const fullArgs = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args];
  // -nostdin only disables interactive keys; input still comes from "-i pipe:0" / "-i -".
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(bin, fullArgs, {
    stdio: ['pipe', 'pipe', 'pipe'],
    shell: false,
    // Its own process group: a SIGTERM to the hub's group (systemd, Ctrl-C) must not kill the encodes the
    // hub is finishing within its grace; the hub ends them itself. If the hub dies, the closed pipes end them.
    detached: true,
  });
  spawnCount++;
  const tail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line.trim()) tail.push(line);
    }
    if (tail.length > STDERR_TAIL_LINES) tail.splice(0, tail.length - STDERR_TAIL_LINES);
  });
  child.stdin.on('error', () => {});

  let killTimer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  const onAbort = (): void => kill();
  signal?.addEventListener('abort', onAbort, { once: true });

  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => {
      reject(new AppError('FFMPEG_FAILED', `ffmpeg could not start: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, sig) => {
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) {
        reject(signal.reason instanceof Error ? signal.reason : new AppError('ABORTED', 'ffmpeg aborted'));
      } else if (code === 0) {
        resolve();
      } else {
        const how = sig ? `signal ${sig}` : `exit code ${code}`;
        reject(
          new AppError(
            'FFMPEG_FAILED',
            `ffmpeg failed (${how}): ${tail.slice(-5).join(' | ') || 'no output'}`,
            {
              details: { args: fullArgs, code, signal: sig, stderr: tail.join('\n') },
            },
          ),
        );
      }
    });
  });
  // A caller that only awaits stdout must not see an unhandled rejection from `done`.
  done.catch(() => {});
  if (signal?.aborted) kill();
  return { stdin: child.stdin, stdout: child.stdout, done, pid: child.pid, kill };
}
