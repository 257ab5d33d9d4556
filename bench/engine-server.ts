/**
 * Issue 12 figures: the hub as Home Assistant's speech engine, against the engine driven directly by the same
 * real client, in one run (bench/engine_server_client.py: the `wyoming` package, as Home Assistant uses it, and
 * the official `openai` package):
 * - wyoming-piper directly vs the hub's Wyoming server in front of the same wyoming-piper, plain `synthesize`
 *   and streaming (`synthesize-start/chunk/stop`): first audio chunk and total, a miss each time (a fresh
 *   number in every sentence), then the same text again (a hit's first chunk);
 * - `/v1/audio/speech` time to first byte in each format, against the engine's own time for the first
 *   sentence alone.
 * Ten-sentence texts (three for the first-byte pairs); each ratio is the median over RUNS runs of the ratio of
 * two measurements taken one right after the other, so a loaded machine moves both sides alike; which side goes
 * first alternates from run to run (so neither side always meets a machine the other just warmed or loaded), and
 * the spread (min–max of the per-run ratios) is printed next to each median.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { STREAM_FORMATS } from '../src/audio/stream-formats.js';
import { splitSentences } from '../src/say/sentences.js';
import { TEN_SENTENCES } from '../test/helpers/announcements.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { PIPER_VOICE, startWyomingPiper, venvPython } from '../test/helpers/piper.js';
import { freePort } from '../test/helpers/ports.js';
import { line, ms, percentile, ratio } from './stats.js';
import { opusEncodeMs, sayTotalMs } from './whole-text.js';

const run = promisify(execFile);
const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'engine_server_client.py');
const RUNS = 9;

interface Job {
  kind: 'plain' | 'stream' | 'openai';
  host?: string;
  port?: number;
  base_url?: string;
  text: string;
  format?: string;
}
interface Timing {
  first_ms: number;
  total_ms: number;
  bytes: number;
}

/** The ten sentences with `n` worked into each, so no run repeats a sentence (no cache, no phrase reuse). */
function freshText(n: number): string {
  return splitSentences(TEN_SENTENCES)
    .map((s, i) => s.replace(/([.!?])$/, `, number ${n * 10 + i}$1`))
    .join(' ');
}

async function runJobs(jobs: Job[]): Promise<Timing[]> {
  const child = run(venvPython(), [CLIENT], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin?.end(JSON.stringify(jobs));
  return JSON.parse((await child).stdout) as Timing[];
}

const median = (values: number[]): number => percentile(values, 50);

/** The hub's default speech Opus bitrate (`audio.bitrate_kbps`), in kbit/s. */
const SPEECH_KBPS = 32;

/** The timings of every run, by measurement name (one entry per run, in run order). */
type Rows = Record<string, Timing[]>;

/** A job and the name its timing is filed under. */
interface Named {
  name: string;
  job: Job;
}

/** The two sides of a pair, `a` first in even runs and `b` first in odd ones. */
function pair(a: Named[], b: Named[], run: number): Named[] {
  return run % 2 === 0 ? [...a, ...b] : [...b, ...a];
}

/** Per-run ratios a ÷ b as "median (spread min–max)" against `target`. */
function pairRatio(a: number[], b: number[], target: number): string {
  const ratios = a.map((x, i) => x / (b[i] as number));
  const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  return `${ratio(median(ratios), target)}  (runs ${spread})`;
}

/** What one run needs: the three endpoints and a source of fresh texts. */
interface RunContext {
  direct: { host: string; port: number };
  viaHub: { host: string; port: number };
  openaiUrl: string;
  hubUrl: string;
  next(): string;
}

/** One run of every measurement (the order of each pair alternates with `run`); the timings go into `rows`. */
async function runOnce(ctx: RunContext, run: number, rows: Rows): Promise<void> {
  const { direct, viaHub, openaiUrl, next } = ctx;
  const plainText = next();
  const streamText = next();
  const short = (): string => splitSentences(next()).slice(0, 3).join(' ');
  const named: Named[] = [
    ...pair(
      [{ name: 'plain direct', job: { kind: 'plain', ...direct, text: next() } }],
      [
        { name: 'plain hub', job: { kind: 'plain', ...viaHub, text: plainText } },
        { name: 'plain hit', job: { kind: 'plain', ...viaHub, text: plainText } },
      ],
      run,
    ),
    ...pair(
      [{ name: 'stream direct', job: { kind: 'stream', ...direct, text: next() } }],
      [
        { name: 'stream hub', job: { kind: 'stream', ...viaHub, text: streamText } },
        { name: 'stream hit', job: { kind: 'stream', ...viaHub, text: streamText } },
      ],
      run,
    ),
    // Each format next to the engine's own first sentence of a text just like it.
    ...STREAM_FORMATS.flatMap((format) =>
      pair(
        [
          {
            name: `sentence ${format}`,
            job: { kind: 'plain', ...direct, text: splitSentences(next())[0] as string },
          },
        ],
        [{ name: `openai ${format}`, job: { kind: 'openai', base_url: openaiUrl, text: short(), format } }],
        run,
      ),
    ),
    // The whole ten sentences as Ogg Opus through /v1/audio/speech (a miss).
    { name: 'whole openai opus', job: { kind: 'openai', base_url: openaiUrl, text: next(), format: 'opus' } },
  ];
  const timings = await runJobs(named.map((n) => n.job));
  const add = (name: string, t: Timing | undefined): void => {
    if (t) rows[name] = [...(rows[name] ?? []), t];
  };
  for (const [i, n] of named.entries()) add(n.name, timings[i]);
  add('whole say', { first_ms: 0, total_ms: await sayTotalMs(ctx.hubUrl, next()), bytes: 0 });
  // The engine alone plus its encode: this run's plain direct total and the Opus encode of as much PCM.
  const engine = rows['plain direct']?.at(-1) as Timing;
  const encode = await opusEncodeMs(engine.bytes, SPEECH_KBPS);
  add('engine + encode', { first_ms: 0, total_ms: engine.total_ms + encode, bytes: engine.bytes });
}

/** The timings of `name`, one value per run. */
function values(rows: Rows, name: string, pick: (t: Timing) => number): number[] {
  return (rows[name] ?? []).map(pick);
}

/** Prints the Wyoming lines: first chunk and total, hub ÷ direct, and a hit's first chunk, per mode. */
function printWyoming(rows: Rows): void {
  const first = (t: Timing): number => t.first_ms;
  const total = (t: Timing): number => t.total_ms;
  for (const mode of ['plain', 'stream'] as const) {
    const label = mode === 'plain' ? 'plain synthesize' : 'streaming synthesize';
    const hub = `${mode} hub`;
    const direct = `${mode} direct`;
    for (const [what, pick] of [
      ['first chunk', first],
      ['total', total],
    ] as const) {
      const d = values(rows, direct, pick);
      const h = values(rows, hub, pick);
      line(`${label}: ${what} direct / hub (miss)`, `${ms(median(d))} / ${ms(median(h))}`);
      line(`${label}: ${what} hub ÷ direct (target ≤ 1.1)`, pairRatio(h, d, 1.1));
    }
    const hit = median(values(rows, `${mode} hit`, first));
    line(`${label}: a hit's first chunk (target ≤ 20 ms)`, `${ms(hit)}${hit <= 20 ? '  ✓' : '  ✗'}`);
  }
}

/**
 * Prints, per path, the whole ten-sentence text through the hub (a miss) against the engine alone on such a
 * text plus the Opus encode of its PCM, taken in the same run (median of the per-run ratios; target ≤ 1.05).
 */
function printWholeText(rows: Rows): void {
  const total = (t: Timing): number => t.total_ms;
  const base = values(rows, 'engine + encode', total);
  line('whole text: engine alone + Opus encode', ms(median(base)));
  const paths: Array<[string, string]> = [
    ['Wyoming plain', 'plain hub'],
    ['Wyoming streaming', 'stream hub'],
    ['HTTP say (wait)', 'whole say'],
    ['/v1/audio/speech opus', 'whole openai opus'],
  ];
  for (const [label, name] of paths) {
    const hub = values(rows, name, total);
    line(
      `whole text via ${label}: ${ms(median(hub))}, hub ÷ (engine + encode) (target ≤ 1.05)`,
      pairRatio(hub, base, 1.05),
    );
  }
}

/** Prints /v1/audio/speech's first byte per format against the engine's own first-sentence time. */
function printSpeech(rows: Rows): void {
  for (const format of STREAM_FORMATS) {
    const ttfb = values(rows, `openai ${format}`, (t) => t.first_ms);
    const sentence = values(rows, `sentence ${format}`, (t) => t.total_ms);
    line(
      `/v1/audio/speech ${format}: first byte ${ms(median(ttfb))} vs sentence ${ms(median(sentence))}`,
      pairRatio(ttfb, sentence, 1.2),
    );
  }
}

/** Runs the engine-server benchmark and prints its lines. */
export async function benchEngineServer(): Promise<void> {
  const [broker, piper] = await Promise.all([startMosquitto(), startWyomingPiper()]);
  const wyomingPort = await freePort();
  const hub = await startInProcessHub(
    {
      wyoming_server: { enabled: true, port: wyomingPort },
      engines: [{ name: 'piper', type: 'piper', url: piper.url, voice: PIPER_VOICE, timeout_s: 120 }],
    },
    broker.url,
  );
  let n = 1000;
  const ctx: RunContext = {
    direct: { host: '127.0.0.1', port: piper.port },
    viaHub: { host: '127.0.0.1', port: wyomingPort },
    openaiUrl: `${hub.baseUrl}/v1`,
    hubUrl: hub.baseUrl,
    next: () => freshText(n++),
  };
  try {
    process.stdout.write(
      `\nHome Assistant speech engine (issue 12): real wyoming-piper, ten sentences, real Python clients, ${RUNS} runs\n`,
    );
    // Warm-up: Piper loads its voice; the hub's encoder pool fills.
    await runJobs([
      { kind: 'plain', ...ctx.direct, text: ctx.next() },
      { kind: 'plain', ...ctx.viaHub, text: ctx.next() },
      { kind: 'stream', ...ctx.viaHub, text: ctx.next() },
      ...STREAM_FORMATS.map(
        (format): Job => ({ kind: 'openai', base_url: ctx.openaiUrl, text: ctx.next(), format }),
      ),
    ]);
    const rows: Rows = {};
    for (let r = 0; r < RUNS; r++) await runOnce(ctx, r, rows);
    printWyoming(rows);
    printWholeText(rows);
    printSpeech(rows);
  } finally {
    await hub.close();
    await piper.stop();
    await broker.stop();
  }
}
