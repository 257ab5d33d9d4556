import { type Child, type ChildExit, startChild } from '../../audio/child-process.js';
import { AppError, isAppError } from '../../shared/errors.js';
import { abortError, errorMessage } from './engine-errors.js';

/**
 * Child processes for CLI engines (espeak-ng, `python -m piper`, `pocket-tts generate`): arguments as an
 * array with `shell: false`, text on stdin, stdout streamed as it comes, the stderr tail kept for errors,
 * SIGTERM then SIGKILL on abort: the one child helper, audio/child-process.ts (execa), in its own process group.
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

/** Most stdout bytes a short command (`runCliOnce`) may write, in bytes. */
const MAX_ONCE_STDOUT_BYTES = 4 * 1024 * 1024;

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

/** The error of a child that could not start: ENGINE_MISCONFIGURED for a missing command, else ENGINE_FAILED. */
function startError(engine: string, exe: string, err: NodeJS.ErrnoException): AppError {
  return err.code === 'ENOENT'
    ? missingCommand(engine, exe, err)
    : new AppError('ENGINE_FAILED', `engine '${engine}' could not start '${exe}': ${err.message}`, {
        cause: err,
      });
}

/** Starts `argv` (own process group, see audio/child-process.ts) with `env` on top of `process.env`. */
function startCli(engine: string, argv: string[], env?: Record<string, string>): Child {
  const [exe, ...args] = argv;
  if (exe === undefined) throw new AppError('CONFIG_INVALID', `engine '${engine}' has no command`);
  return startChild({ file: exe, args, ...(env ? { env } : {}) });
}

/** Waits for `child` to close: resolves on exit code 0, else rejects with ENGINE_FAILED (stderr tail). */
async function waitForExit(spec: CliSpec, child: Child): Promise<void> {
  const exe = spec.argv[0] ?? '';
  let exit: ChildExit;
  try {
    exit = await child.exited;
  } catch (err) {
    throw startError(spec.engine, exe, err as NodeJS.ErrnoException);
  }
  if (exit.code === 0) return;
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  const tail = child.stderrTail();
  const stderr = tail.slice(-3).join(' | ') || 'no error output';
  throw new AppError('ENGINE_FAILED', `engine '${spec.engine}' failed (${exe}, ${how}): ${stderr}`, {
    details: {
      engine: spec.engine,
      argv: spec.argv,
      code: exit.code,
      signal: exit.signal,
      stderr: tail.join('\n'),
    },
  });
}

/**
 * Runs `spec.argv` and yields its stdout as it arrives. After stdout ends it waits for the exit.
 * Ending the iteration early, or aborting `signal`, kills the child (SIGTERM, then SIGKILL after
 * KILL_GRACE_MS of audio/child-process.ts).
 * @throws AppError ENGINE_UNAVAILABLE (executable not found), ENGINE_FAILED (non-zero exit, with the
 *   stderr tail), or the abort error (ENGINE_TIMEOUT for a timeout signal, see `abortError`).
 */
export async function* streamCli(spec: CliSpec, signal: AbortSignal): AsyncGenerator<Buffer> {
  if (signal.aborted) throw abortError(spec.engine, signal);
  const child = startCli(spec.engine, spec.argv, spec.env);
  const exited = waitForExit(spec, child);
  exited.catch(() => {});
  const onAbort = (): void => child.kill();
  signal.addEventListener('abort', onAbort, { once: true });
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
    child.kill();
  }
}

/**
 * Runs a short command (`--version`, `--voices`) to completion and returns its stdout (stdin closed at once).
 * @throws AppError ENGINE_MISCONFIGURED when the command is missing, ENGINE_FAILED when it cannot start, on a
 *   non-zero exit, past 4 MiB of output or after `timeoutMs` (default 10 s); the abort error when `signal`
 *   aborts.
 */
export async function runCliOnce(
  engine: string,
  argv: string[],
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  if (opts.signal?.aborted) throw abortError(engine, opts.signal);
  const child = startCli(engine, argv);
  child.stdin.end();
  const onAbort = (): void => child.kill();
  signal.addEventListener('abort', onAbort, { once: true });
  const parts: Buffer[] = [];
  let bytes = 0;
  try {
    const exited = waitForExit({ engine, argv, stdinText: '' }, child);
    exited.catch(() => {});
    for await (const piece of child.stdout) {
      bytes += (piece as Buffer).length;
      if (bytes > MAX_ONCE_STDOUT_BYTES)
        throw new Error(`more than ${MAX_ONCE_STDOUT_BYTES} bytes of output`);
      parts.push(piece as Buffer);
    }
    await exited;
    return Buffer.concat(parts).toString('utf8');
  } catch (err) {
    if (opts.signal?.aborted) throw abortError(engine, opts.signal);
    if (isAppError(err, 'ENGINE_MISCONFIGURED')) throw err;
    const why = timeout.aborted ? `timed out after ${timeoutMs} ms` : errorMessage(err);
    const detail = child.stderrTail().slice(-3).join(' | ') || why;
    throw new AppError('ENGINE_FAILED', `engine '${engine}': '${argv.join(' ')}' failed: ${detail}`, {
      cause: err,
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
    child.kill();
  }
}
