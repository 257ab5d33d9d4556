/**
 * Runs the real piper1-gpl HTTP server (`python -m piper.http_server`, PyPI `piper-tts[http]`) from the
 * project's venv with the bundled voice en_US-joe-medium, for integration tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { PIPER_VOICE, piperVoiceDir, venvPython } from './piper.js';
import { freePort } from './ports.js';

/** A running Piper HTTP server. `stop()` kills it and resolves when it has exited. */
export interface RunningPiperHttp {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts `python -m piper.http_server -m en_US-joe-medium --data-dir <voice dir>` on a free port of
 * 127.0.0.1 and resolves once `GET /voices` answers (about 2 s).
 * @throws Error with the server's output when it exits or is not ready within `readyTimeoutMs` (30 s);
 *   a missing Flask means the venv lacks `piper-tts[http]`.
 */
export async function startPiperHttp(opts: { readyTimeoutMs?: number } = {}): Promise<RunningPiperHttp> {
  const port = await freePort();
  const args = ['-m', 'piper.http_server', '-m', PIPER_VOICE, '--data-dir', piperVoiceDir()];
  const child = spawn(venvPython(), [...args, '--host', '127.0.0.1', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `piper.http_server exited (${child.exitCode ?? child.signalCode}) before ready:\n${output}`,
      );
    }
    const ok = await fetch(`${url}/voices`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`piper.http_server not ready on ${url}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, stop: () => stopChild(child) };
}
