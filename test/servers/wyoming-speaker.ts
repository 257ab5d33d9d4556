/**
 * Runs test/servers/wyoming-speaker.py (a Wyoming snd service on the real `wyoming` PyPI package, behaving
 * like rhasspy/wyoming-snd-external) from the project's venv, and collects what it reports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { venvPython } from '../helpers/piper.js';
import { freePort } from '../helpers/ports.js';

/** One fact the speaker reported. */
export interface SpeakerReport {
  event: 'ready' | 'start' | 'stop' | 'played' | 'closed' | 'format_mismatch';
  conn?: number;
  /** Monotonic seconds (CLOCK_MONOTONIC) when it happened; for `played`, just before it was sent. */
  t: number;
  rate?: number;
  width?: number;
  channels?: number;
  bytes?: number;
  /** stop: SHA-256 of the PCM received. */
  sha256?: string;
  played?: boolean;
}

/** A running speaker. */
export interface WyomingSpeaker {
  url: string;
  reports: SpeakerReport[];
  /** Resolves when a report matching `match` has arrived (already or later). */
  waitFor(match: (r: SpeakerReport) => boolean, timeoutMs?: number): Promise<SpeakerReport>;
  stop(): Promise<void>;
}

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'wyoming-speaker.py');

/**
 * Starts the speaker on 127.0.0.1:<free port>; `realtime` delays `played` by the audio's duration,
 * `extraDelayS` by that many seconds more.
 */
export async function startWyomingSpeaker(
  opts: { realtime?: boolean; extraDelayS?: number } = {},
): Promise<WyomingSpeaker> {
  const port = await freePort();
  const url = `tcp://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    venvPython(),
    [
      SCRIPT,
      ...['--uri', url],
      ...(opts.realtime ? ['--realtime'] : []),
      ...(opts.extraDelayS ? ['--extra-delay', String(opts.extraDelayS)] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const reports: SpeakerReport[] = [];
  const waiters: Array<{ match: (r: SpeakerReport) => boolean; resolve: (r: SpeakerReport) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const r = JSON.parse(line) as SpeakerReport;
    reports.push(r);
    for (const w of [...waiters]) {
      if (w.match(r)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  });
  const waitFor: WyomingSpeaker['waitFor'] = (match, timeoutMs = 20_000) => {
    const seen = reports.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('speaker report did not arrive')), timeoutMs);
      waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  };
  await waitFor((r) => r.event === 'ready');
  return {
    url,
    reports,
    waitFor,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
