import { type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../../shared/errors.js';
import { abortError, errorMessage } from './engine-errors.js';

/**
 * Child processes for CLI engines (espeak-ng, `python -m piper`, `pocket-tts generate`): arguments as an
 * array with `shell: false`, text on stdin, stdout streamed as it comes, the stderr tail kept for errors,
 * SIGTERM then SIGKILL on abort. Lifecycle after execa / Node's child_process docs.
 */

/**
 * The error of a configured command that does not exist: ENGINE_MISCONFIGURED naming it and the fix (install
 * it, or point `engines[].command` at it).
 */
export function missingCommand(engine: string, exe: string, cause?: unknown): AppError {
  return new AppError(
    'ENGINE_MISCONFIGURED',
    `engine '${engine}': command '${exe}' not found; install it or set engines[].command to its full path`,
    { cause, details: { engine, command: exe } },
  );
}

/** How long after SIGTERM a child gets before SIGKILL, in ms. */
export const CLI_KILL_GRACE_MS = 2000;
const STDERR_TAIL_LINES = 10;

/** What to run: `argv[0]` is the executable, the rest its arguments. */
export interface CliSpec {
  /** Engine name, for error messages. */
  engine: string;
  argv: string[];
  /** Written to stdin, then stdin is closed. */
  stdinText: string;
  /** Extra environment on top of `process.env`. */
  env?: Record<string, string>;
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

function killGracefully(child: Child): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, CLI_KILL_GRACE_MS);
  timer.unref();
}

function keepTail(stream: Readable): string[] {
  const tail: string[] = [];
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) tail.push(line.trim());
    if (tail.length > STDERR_TAIL_LINES) tail.splice(0, tail.length - STDERR_TAIL_LINES);
  });
  return tail;
}

function waitForExit(spec: CliSpec, child: Child, tail: string[]): Promise<void> {
  const exe = spec.argv[0];
  return new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? missingCommand(spec.engine, exe ?? '', err)
          : new AppError(
              'ENGINE_FAILED',
              `engine '${spec.engine}' could not start '${exe}': ${err.message}`,
              {
                cause: err,
              },
            ),
      );
    });
    child.once('close', (code, sig) => {
      if (code === 0) return resolve();
      const how = sig ? `signal ${sig}` : `exit code ${code}`;
      const stderr = tail.slice(-3).join(' | ') || 'no error output';
      reject(
        new AppError('ENGINE_FAILED', `engine '${spec.engine}' failed (${exe}, ${how}): ${stderr}`, {
          details: { engine: spec.engine, argv: spec.argv, code, signal: sig, stderr: tail.join('\n') },
        }),
      );
    });
  });
}

/**
 * Runs `spec.argv` and yields its stdout as it arrives. After stdout ends it waits for the exit.
 * Ending the iteration early, or aborting `signal`, kills the child (SIGTERM, then SIGKILL after
 * {@link CLI_KILL_GRACE_MS}).
 * @throws AppError ENGINE_UNAVAILABLE (executable not found), ENGINE_FAILED (non-zero exit, with the
 *   stderr tail), or the abort error (ENGINE_TIMEOUT for a timeout signal, see `abortError`).
 */
export async function* streamCli(spec: CliSpec, signal: AbortSignal): AsyncGenerator<Buffer> {
  if (signal.aborted) throw abortError(spec.engine, signal);
  const [exe, ...args] = spec.argv;
  if (exe === undefined) throw new AppError('CONFIG_INVALID', `engine '${spec.engine}' has no command`);
  const child: Child = spawn(exe, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    shell: false,
    env: spec.env ? { ...process.env, ...spec.env } : process.env,
    // Own process group, as ffmpeg's (audio/ffmpeg.ts): a group SIGTERM leaves the hub its grace time.
    detached: true,
  });
  const tail = keepTail(child.stderr);
  const exited = waitForExit(spec, child, tail);
  exited.catch(() => {});
  const onAbort = (): void => killGracefully(child);
  signal.addEventListener('abort', onAbort, { once: true });
  // EPIPE when the child exits before reading all of stdin; the exit status reports the failure.
  child.stdin.on('error', () => {});
  child.stdin.end(spec.stdinText, 'utf8');
  try {
    for await (const chunk of child.stdout) {
      if (signal.aborted) break;
      yield chunk as Buffer;
    }
    if (signal.aborted) throw abortError(spec.engine, signal);
    await exited;
    if (signal.aborted) throw abortError(spec.engine, signal);
  } catch (err) {
    if (signal.aborted) throw abortError(spec.engine, signal);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    killGracefully(child);
  }
}

/**
 * Runs a short command (`--version`, `--voices`) to completion and returns its stdout.
 * @throws AppError ENGINE_UNAVAILABLE when it cannot start, ENGINE_FAILED on a non-zero exit or after
 *   `timeoutMs` (default 10 s); the abort error when `signal` aborts.
 */
export function runCliOnce(
  engine: string,
  argv: string[],
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<string> {
  const [exe, ...args] = argv;
  if (exe === undefined)
    return Promise.reject(new AppError('CONFIG_INVALID', `engine '${engine}' has no command`));
  return new Promise<string>((resolve, reject) => {
    execFile(
      exe,
      args,
      {
        timeout: opts.timeoutMs ?? 10_000,
        signal: opts.signal,
        maxBuffer: 4 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (opts.signal?.aborted) return reject(abortError(engine, opts.signal));
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(missingCommand(engine, exe, err));
        const detail = stderr.trim().split('\n').slice(-3).join(' | ') || errorMessage(err);
        reject(
          new AppError('ENGINE_FAILED', `engine '${engine}': '${argv.join(' ')}' failed: ${detail}`, {
            cause: err,
          }),
        );
      },
    );
  });
}
