/**
 * Tools of the attack tests and the faults bench: the longest `/api/health` answer while something runs, a
 * process's resident and peak memory (/proc), the largest value of a sampled figure, and a raw Wyoming client
 * on a real socket. (A process's ffmpeg children: test/helpers/recorder.ts.)
 */
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { EventDecoder, encodeEvent, type WyomingEvent } from '../../src/wyoming/codec.js';

/** A running probe of `/api/health`; `stop()` resolves with the longest answer time and the answers seen. */
export interface HealthProbe {
  stop(): Promise<{ maxMs: number; answers: number; failures: number }>;
}

/**
 * Asks `${baseUrl}/api/health` again as soon as each answer arrives (and at least every `gapMs`), timing each
 * answer; a request that never answers counts as long as it has been waiting when `stop()` is called.
 */
export function probeHealth(baseUrl: string, gapMs = 20): HealthProbe {
  let running = true;
  let maxMs = 0;
  let answers = 0;
  let failures = 0;
  let currentStart = 0;
  const loop = (async () => {
    while (running) {
      currentStart = performance.now();
      try {
        const res = await fetch(`${baseUrl}/api/health`, { signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        if (res.ok) answers++;
        else failures++;
      } catch {
        failures++;
      }
      maxMs = Math.max(maxMs, performance.now() - currentStart);
      currentStart = 0;
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return {
    async stop() {
      running = false;
      const waiting = currentStart ? performance.now() - currentStart : 0;
      await loop;
      return { maxMs: Math.max(maxMs, waiting), answers, failures };
    },
  };
}

async function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resident memory of `pid` now, in bytes. */
export const rssBytes = (pid: number): Promise<number> => statusField(pid, 'VmRSS');
/** Peak resident memory of `pid` since it started (VmHWM), in bytes. */
export const peakRssBytes = (pid: number): Promise<number> => statusField(pid, 'VmHWM');

/** Samples `read` every `everyMs` until `stop()`, which resolves with the largest value seen. */
export function sampleMax(read: () => Promise<number> | number, everyMs = 10): { stop(): Promise<number> } {
  let running = true;
  let max = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await read());
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

/** A raw Wyoming connection: send events or bytes, collect the events the server sends, see the close. */
export interface RawWyoming {
  socket: Socket;
  events: WyomingEvent[];
  send(event: WyomingEvent): boolean;
  /** Resolves with the first event of `type` (or any of the types), or rejects after `timeoutMs`. */
  next(type: string | string[], timeoutMs?: number): Promise<WyomingEvent>;
  /** Resolves when the server closed the connection (or it errored). */
  closed: Promise<void>;
  close(): void;
}

/** Connects to a Wyoming server on 127.0.0.1:`port`. */
export async function rawWyoming(port: number): Promise<RawWyoming> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const events: WyomingEvent[] = [];
  const decoder = new EventDecoder({ maxPayloadBytes: 64 * 1024 * 1024 });
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    try {
      events.push(...decoder.push(chunk));
    } catch {
      socket.destroy();
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    events,
    send: (event) => socket.write(encodeEvent(event)),
    async next(type, timeoutMs = 10_000) {
      const types = Array.isArray(type) ? type : [type];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find((e) => types.includes(e.type));
        if (found) return found;
        if (Date.now() > deadline || socket.destroyed) {
          throw new Error(`no ${types.join('/')} event (got ${events.map((e) => e.type).join(', ')})`);
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 50);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    closed,
    close: () => socket.destroy(),
  };
}
