/**
 * Building blocks of the load benchmark: a hub process with its CPU use read from /proc (its own time plus
 * that of the children it reaped: espeak-ng, ffmpeg), an MQTT client that times `tts/say` → `tts/result`, and
 * fresh announcement texts that neither the cache nor the phrase cache has heard.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { splitSentences } from '../src/say/sentences.js';
import { type HubProcess, startHub } from '../test/helpers/hub-process.js';
import { freePort } from '../test/helpers/ports.js';
import { BUILT_HUB, buildHub } from './built-hub.js';
import { corpus } from './corpus.js';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** The fields after the command of /proc/<pid>/stat (state is index 0), or undefined once the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The live descendants of `pid` (children, grandchildren, …), from the parent ids in /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields) parentOf.set(Number(name), Number(fields[1]));
  }
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** utime + stime + cutime + cstime of one process (fields 14–17 of its stat), in ticks; 0 once it is gone. */
function ticksOf(pid: number): number {
  const fields = statFields(pid);
  return fields ? [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) : 0;
}

/**
 * CPU ms used so far by `pid`, the children it reaped (espeak-ng, ffmpeg: cutime + cstime) and its live
 * descendants (long-lived helpers such as the warm espeak-ng processes, whose time reaches cutime only when they
 * exit). Differences of two readings count each process's CPU within the interval once.
 */
export function processCpuMs(pid: number): number {
  const ticks = [pid, ...descendants(pid)].reduce((sum, p) => sum + ticksOf(p), 0);
  return (ticks * 1000) / TICKS_PER_S;
}

let serial = 0;
/**
 * A distinct announcement: the first sentence of a corpus line with a fresh number in it (no cache or phrase
 * hit), about 3 s of espeak-ng speech.
 */
export function freshText(): string {
  const texts = corpus();
  const n = serial++;
  const [first] = splitSentences(texts[n % texts.length] as string);
  return (first as string).replace(/([.!?])$/, `, number ${n}$1`);
}

/** A hub process on espeak-ng with the given Opus encoder, its Wyoming server on a free port. */
export interface BenchHub {
  proc: HubProcess;
  wyomingUrl: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * Starts a hub process (espeak-ng, `max_parallel` 2 as by default) against `brokerUrl`: the built hub with the
 * image's node flags (built-hub.ts), so CPU and latency are those of what ships, not of tsx's loader.
 * `threads` sets `opus.threads` (unset: the hub's default), `name` its topics (default: the encoder's name).
 */
export async function startBenchHub(
  brokerUrl: string,
  encoder: 'inprocess' | 'ffmpeg',
  opts: { threads?: number; name?: string } = {},
): Promise<BenchHub> {
  buildHub();
  const wyomingPort = await freePort();
  const name = opts.name ?? encoder;
  const proc = await startHub(
    {
      mqtt: { url: brokerUrl, client_id: `bench-load-${name}-${wyomingPort}` },
      topics: { discovery: false, result: `bench/${name}/result`, say: `bench/${name}/say` },
      opus: { encoder, ...(opts.threads === undefined ? {} : { threads: opts.threads }) },
      recorder: { enabled: false },
      wyoming_server: { enabled: true, port: wyomingPort },
    },
    { entry: BUILT_HUB },
  );
  return {
    proc,
    wyomingUrl: `tcp://127.0.0.1:${wyomingPort}`,
    pid: proc.child.pid as number,
    async close() {
      await proc.stop();
      proc.cleanup();
    },
  };
}

/** Says on one hub's topics and times each result. */
export interface SayTimer {
  /** Publishes a say; resolves nothing (the result is timed when it arrives). */
  send(text: string): string;
  /** Latency in ms of every answered say, by id; `ok` false for error results; the audio's duration in ms. */
  readonly answered: Map<string, { ms: number; ok: boolean; durationMs: number }>;
  readonly sentAt: Map<string, number>;
  /** Waits until every sent say is answered or `timeoutMs` passes. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Connects a say client for the hub whose topics are `bench/<name>/say` and `bench/<name>/result`. */
export async function sayTimer(brokerUrl: string, name: string): Promise<SayTimer> {
  const client = await mqtt.connectAsync(brokerUrl, { clientId: `bench-client-${name}-${Date.now()}` });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const sentAt = new Map<string, number>();
  const answered = new Map<string, { ms: number; ok: boolean; durationMs: number }>();
  client.on('message', (_topic, payload) => {
    const at = performance.now();
    const result = JSON.parse(payload.toString('utf8')) as {
      id?: string;
      ok?: boolean;
      duration_ms?: number;
    };
    const t0 = result.id === undefined ? undefined : sentAt.get(result.id);
    if (t0 !== undefined && result.id !== undefined)
      answered.set(result.id, { ms: at - t0, ok: result.ok === true, durationMs: result.duration_ms ?? 0 });
  });
  await client.subscribeAsync(`bench/${name}/result`, { qos: 1 });
  let n = 0;
  return {
    answered,
    sentAt,
    send(text) {
      const id = `${name}-${n++}`;
      sentAt.set(id, performance.now());
      client.publish(`bench/${name}/say`, JSON.stringify({ text, id }), { qos: 1 });
      return id;
    },
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (answered.size < sentAt.size && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    },
    close: () => client.endAsync(),
  };
}
