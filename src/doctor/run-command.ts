/** Runs a short command for a check (`ffmpeg -encoders`, `espeak-ng --version`) with a time limit. */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** What a finished command gave: its stdout, or the error (ENOENT when it does not exist). */
export interface CommandResult {
  ok: boolean;
  stdout: string;
  /** `ENOENT`, an exit code as text, or `timeout`. */
  error?: string;
}

/** Runs `file args` (no shell) for at most `timeoutMs` (default 10 s); never throws. */
export function runCommand(file: string, args: string[], timeoutMs = 10_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (!err) return resolve({ ok: true, stdout });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
      const error = e.code === 'ENOENT' ? 'ENOENT' : e.killed ? 'timeout' : `exit ${String(e.code)}`;
      resolve({ ok: false, stdout: String(stdout ?? ''), error });
    });
  });
}

/** The full path of `command` (a name looked up on PATH, or a path), or undefined when it is not executable. */
export function whichExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates =
    isAbsolute(command) || command.includes('/')
      ? [command]
      : path.split(delimiter).map((d) => join(d, command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
