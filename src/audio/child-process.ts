/**
 * The one child-process helper of the hub, built on execa: ffmpeg (audio/ffmpeg.ts) and the engine CLIs
 * (tts/engines/cli-process.ts: espeak-ng, `python -m piper`, `pocket-tts`) start through it. Arguments are an
 * array with `shell: false`; stdin, stdout and stderr are pipes; the last stderr lines are kept for errors;
 * `kill()` sends SIGTERM, then SIGKILL after {@link KILL_GRACE_MS} (execa's `forceKillAfterDelay`); the exit
 * settles only on `close` (stdout and stderr ended, as execa resolves).
 *
 * Every child runs in its own process group (`detached`): a SIGTERM to the hub's group (systemd, Ctrl-C, a
 * container stop) must not kill the encodes and syntheses the hub is finishing within its grace; the hub ends
 * them itself. If the hub dies, the closed pipes end them.
 */
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';

/** How long after SIGTERM a child gets before SIGKILL, in ms. */
export const KILL_GRACE_MS = 2000;
/** How many stderr lines a child keeps for its error message (the last ones). */
export const STDERR_TAIL_LINES = 20;

/** How a child ended: its exit code, or the signal that ended it (the other is null). */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child (see the module comment). */
export interface Child {
  stdin: Writable;
  stdout: Readable;
  /** The process id; undefined when it could not start. */
  readonly pid: number | undefined;
  /**
   * Resolves on `close` with the exit code or signal; rejects with Node's spawn error (its `code`, e.g.
   * `ENOENT`, as on `error` events) when the child could not start. Never unhandled.
   */
  exited: Promise<ChildExit>;
  /** The last STDERR_TAIL_LINES non-empty stderr lines, trimmed, oldest first. */
  stderrTail(): string[];
  /** SIGTERM now, SIGKILL after KILL_GRACE_MS if still running; nothing once it has exited. */
  kill(): void;
  /**
   * Whether the child (its process handle and pipes) keeps the hub's event loop alive; true from the start.
   * A long-lived child that waits idle is unref'd, so it never holds the hub up at exit.
   */
  setRef(on: boolean): void;
}

/** What to start: the executable, its arguments, and extra environment on top of `process.env`. */
export interface ChildSpec {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

/** Keeps the last STDERR_TAIL_LINES non-empty lines of `stream`. */
function keepTail(stream: Readable | undefined): string[] {
  const tail: string[] = [];
  if (!stream) return tail;
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) tail.push(line.trim());
    if (tail.length > STDERR_TAIL_LINES) tail.splice(0, tail.length - STDERR_TAIL_LINES);
  });
  return tail;
}

/** Node's spawn error behind an execa failure that never ran the child (ENOENT, EACCES, …). */
function spawnError(result: { cause?: unknown; code?: string; message?: string }): Error {
  if (result.cause instanceof Error) return result.cause;
  return Object.assign(new Error(result.message ?? 'could not start'), { code: result.code });
}

/**
 * Starts `spec` now (see the module comment). stdin errors (EPIPE when the child exits before reading all of
 * it) are swallowed: the exit status reports the failure.
 */
export function startChild(spec: ChildSpec): Child {
  const subprocess = execa(spec.file, spec.args, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    encoding: 'buffer',
    reject: false,
    shell: false,
    detached: true,
    forceKillAfterDelay: KILL_GRACE_MS,
    extendEnv: true,
    ...(spec.env ? { env: spec.env } : {}),
  });
  const tail = keepTail(subprocess.stderr ?? undefined);
  subprocess.stdin?.on('error', () => {});
  const exited = subprocess.then((result): ChildExit => {
    if (result.exitCode === undefined && result.signal === undefined) throw spawnError(result);
    return { code: result.exitCode ?? null, signal: (result.signal as NodeJS.Signals | undefined) ?? null };
  });
  exited.catch(() => {});
  let ended = false;
  exited
    .finally(() => {
      ended = true;
    })
    .catch(() => {});
  return {
    stdin: subprocess.stdin as Writable,
    stdout: subprocess.stdout as Readable,
    pid: subprocess.pid,
    exited,
    stderrTail: () => [...tail],
    kill() {
      if (ended || subprocess.exitCode !== null || subprocess.signalCode !== null) return;
      subprocess.kill('SIGTERM');
    },
    setRef(on) {
      if (on) subprocess.ref();
      else subprocess.unref();
      for (const pipe of [subprocess.stdin, subprocess.stdout, subprocess.stderr]) {
        const handle = pipe as unknown as { ref?(): void; unref?(): void } | null;
        if (on) handle?.ref?.();
        else handle?.unref?.();
      }
    },
  };
}
