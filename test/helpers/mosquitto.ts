/** Starts a real mosquitto (Debian package) on a free port for a test, with its own config and data dir. */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpAnswers } from '../../src/mqtt/broker.js';
import { freePort } from './ports.js';

/** A running mosquitto. `restart()` stops and starts it on the same port, keeping its persistence file. */
export interface RunningMosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts mosquitto on 127.0.0.1:<free port>, anonymous, with persistence in a temp dir; `extraConfig` lines
 * (e.g. `max_packet_size 2000`, `max_inflight_messages 20`) are appended to its configuration.
 */
export async function startMosquitto(opts: { extraConfig?: string[] } = {}): Promise<RunningMosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tts-hub-mosquitto-'));
  // Started as root, mosquitto drops to its own user: it must be able to write its persistence file here,
  // or sessions and queued QoS 1 messages silently do not survive a restart.
  chmodSync(dir, 0o777);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'log_dest none',
      // Without it mosquitto's small packets wait on Nagle + delayed ACK (~40 ms a hop on loopback).
      'set_tcp_nodelay true',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const bin = process.env.MOSQUITTO_PATH ?? '/usr/sbin/mosquitto';
    child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
    child.once('error', () => {});
    await waitFor(() => tcpAnswers('127.0.0.1', port, 200), 10_000, `mosquitto on port ${port}`);
  };
  const halt = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await halt();
      await launch();
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
