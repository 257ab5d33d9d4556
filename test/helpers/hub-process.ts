/** Runs the hub as a real child process (`node --import tsx src/main.ts --config FILE`), as users run it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A running hub process. */
export interface HubProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  port: number;
  shareDir: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /**
   * Sends SIGTERM to the hub's whole process group (as systemd, Ctrl-C and `kill -- -PGID` do) and resolves
   * with the exit code (SIGKILL after `timeoutMs`).
   */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Sends `signal` to the hub's whole process group (the hub and its ffmpeg/engine children). */
  signalGroup(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited (code, or null after a signal). */
  exited: Promise<number | null>;
  /** Removes the share dir (after stop). */
  cleanup(): void;
}

/**
 * Starts the hub with `options` written to a temp JSON config; share dir and HTTP port are fresh unless given.
 * Resolves when the log says "hub started". @throws with the output when the process exits first.
 */
export async function startHub(
  options: Record<string, unknown>,
  opts: {
    env?: NodeJS.ProcessEnv;
    shareDir?: string;
    readyTimeoutMs?: number;
    /** Node arguments before `--config` (default `--import tsx src/main.ts`; `['dist/main.js']` runs the build). */
    entry?: string[];
  } = {},
): Promise<HubProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tts-hub-test-'));
  const shareDir = opts.shareDir ?? join(dir, 'share');
  const port = ((options.http as { port?: number } | undefined)?.port ?? (await freePort())) as number;
  const config = {
    ...options,
    share_dir: shareDir,
    http: { external_url: `http://127.0.0.1:${port}`, ...(options.http as object), port },
  };
  const configPath = join(dir, 'options.json');
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    [...(opts.entry ?? ['--import', 'tsx', join(REPO_DIR, 'src/main.ts')]), '--config', configPath],
    {
      cwd: REPO_DIR,
      env: { ...process.env, SUPERVISOR_TOKEN: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a signal can reach the hub and all its children at once.
      detached: true,
    },
  );
  let text = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    text += b.toString('utf8');
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (!text.includes('"hub started"')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`hub exited early:\n${text}`);
    if (Date.now() > deadline) {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      throw new Error(`hub not ready in time:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    child,
    exited,
    signalGroup,
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    shareDir,
    output: () => text,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
