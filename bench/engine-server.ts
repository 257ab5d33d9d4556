/**
 * Issue 12 figures: the hub as Home Assistant's speech engine, against the engine driven directly by the same
 * real client, in one run (bench/engine_server_client.py: the `wyoming` package, as Home Assistant uses it, and
 * the official `openai` package; the HTTP say with Python's standard library):
 * - wyoming-piper directly vs the hub's Wyoming server in front of the same wyoming-piper, plain `synthesize`
 *   and streaming (`synthesize-start/chunk/stop`): first audio chunk and total, a miss each time (a fresh
 *   number in every sentence), then the same text again (a hit's first chunk);
 * - the whole ten-sentence text through the hub (a miss) on each path (Wyoming plain and streaming, HTTP say
 *   with `wait`, `/v1/audio/speech` opus) against the engine alone on that text plus the Opus encode of its PCM;
 * - `/v1/audio/speech` time to first byte in each format, against the engine's own time for the first
 *   sentence alone.
 * Every pair compares like with like: both sides speak the very same text (the hub has not seen it, and the
 * engine keeps nothing between requests, so the hub's side is still a miss). Fresh texts differ in their
 * numbers ("ten thousand" against "ten thousand one hundred eighty"), which moved a ~150 ms first sentence
 * by more than the 10 % margin when each side had its own. The streaming whole-text line takes the engine's
 * streaming total as its base (the same mode, the same text), the other paths the plain one.
 * Ten-sentence texts (three for the first-byte pairs); each ratio is the median over the runs (RUNS, or
 * `--runs N`) of the ratio of two measurements taken one right after the other, so a loaded machine moves
 * both sides alike (the median of the paired ratios, not the ratio of the medians: a run's two sides share
 * its text and its moment, two medians need not come from the same run); which side goes first alternates
 * from run to run (so neither side always meets a machine the other just warmed or loaded), and the spread
 * (min–max of the per-run ratios) is printed next to each median. Jobs are PAUSE_MS apart (untimed), so what
 * one job leaves running (the hub's spare ffmpeg starting after an mp3 answer, a commit) is not charged to the
 * next job, the other side of its pair in every other run; and each client is warmed up untimed once per
 * client process (the `openai` package's first request cost ~20 ms more, always on the same format's job).
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { STREAM_FORMATS } from '../src/audio/stream-formats.js';
import { splitSentences } from '../src/say/sentences.js';
import { TEN_SENTENCES } from '../test/helpers/announcements.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { PIPER_VOICE, startWyomingPiper, venvPython } from '../test/helpers/piper.js';
import { freePort } from '../test/helpers/ports.js';
import { line, ms, percentile, ratio } from './stats.js';
import { opusEncodeMs } from './whole-text.js';

const run = promisify(execFile);
const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'engine_server_client.py');
/** Runs (pairs per ratio) unless `--runs N` asks for another number (fewer while iterating). */
const RUNS = 9;

/** The runs asked for: `--runs N` (at least 1), else RUNS. */
function runsWanted(): number {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: false,
    options: { runs: { type: 'string' } },
  });
  const n = Number(values.runs);
  return typeof values.runs === 'string' && Number.isInteger(n) && n >= 1 ? n : RUNS;
}

interface Job {
  kind: 'plain' | 'stream' | 'openai' | 'say';
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

/**
 * Pause between two jobs, in ms (untimed): what a job leaves running must not land on the next one, which is
 * the other side of its pair in every other run. After an mp3 answer the hub starts its spare encoder (an
 * ffmpeg start-up, ~50 ms of CPU), and a direct sentence right after it took 140–170 ms instead of 102–110 ms.
 */
const PAUSE_MS = 300;

async function runJobs(jobs: Job[]): Promise<Timing[]> {
  const child = run(venvPython(), [CLIENT], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
  child.child.stdin?.end(JSON.stringify({ jobs, pause_ms: PAUSE_MS }));
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

/**
 * The whole-text pairs: the hub's measurement and the engine-alone measurement on the same text whose total
 * (plus the Opus encode of its PCM) is the base.
 */
const WHOLE_TEXT: ReadonlyArray<{ label: string; hub: string; engine: string }> = [
  { label: 'Wyoming plain', hub: 'plain hub', engine: 'plain direct' },
  { label: 'Wyoming streaming', hub: 'stream hub', engine: 'stream direct' },
  { label: 'HTTP say (wait)', hub: 'whole say', engine: 'say direct' },
  { label: '/v1/audio/speech opus', hub: 'whole openai opus', engine: 'openai direct' },
];

/** The jobs of one run, every pair on one text (the order of each pair alternates with `run`). */
function runJobsOf(ctx: RunContext, run: number): Named[] {
  const { direct, viaHub, openaiUrl, hubUrl } = ctx;
  const plain = ctx.next();
  const stream = ctx.next();
  const sayText = ctx.next();
  const openaiText = ctx.next();
  return [
    ...pair(
      [{ name: 'plain direct', job: { kind: 'plain', ...direct, text: plain } }],
      [
        { name: 'plain hub', job: { kind: 'plain', ...viaHub, text: plain } },
        { name: 'plain hit', job: { kind: 'plain', ...viaHub, text: plain } },
      ],
      run,
    ),
    ...pair(
      [{ name: 'stream direct', job: { kind: 'stream', ...direct, text: stream } }],
      [
        { name: 'stream hub', job: { kind: 'stream', ...viaHub, text: stream } },
        { name: 'stream hit', job: { kind: 'stream', ...viaHub, text: stream } },
      ],
      run,
    ),
    // Each format's first byte next to the engine's own time for the first sentence of the same text.
    ...STREAM_FORMATS.flatMap((format) => {
      const short = splitSentences(ctx.next()).slice(0, 3);
      return pair(
        [{ name: `sentence ${format}`, job: { kind: 'plain', ...direct, text: short[0] as string } }],
        [
          {
            name: `openai ${format}`,
            job: { kind: 'openai', base_url: openaiUrl, text: short.join(' '), format },
          },
        ],
        run,
      );
    }),
    // The whole ten sentences through the HTTP say (waiting for the stored file) and /v1/audio/speech opus.
    ...pair(
      [{ name: 'say direct', job: { kind: 'plain', ...direct, text: sayText } }],
      [{ name: 'whole say', job: { kind: 'say', base_url: hubUrl, text: sayText } }],
      run,
    ),
    ...pair(
      [{ name: 'openai direct', job: { kind: 'plain', ...direct, text: openaiText } }],
      [
        {
          name: 'whole openai opus',
          job: { kind: 'openai', base_url: openaiUrl, text: openaiText, format: 'opus' },
        },
      ],
      run,
    ),
  ];
}

/** One run of every measurement; the timings go into `rows`. */
async function runOnce(ctx: RunContext, run: number, rows: Rows): Promise<void> {
  const named = runJobsOf(ctx, run);
  const timings = await runJobs(named.map((n) => n.job));
  const add = (name: string, t: Timing | undefined): void => {
    if (t) rows[name] = [...(rows[name] ?? []), t];
  };
  for (const [i, n] of named.entries()) add(n.name, timings[i]);
  // Each whole-text base: the engine alone on the hub's text, plus the Opus encode of as much PCM.
  for (const { engine } of WHOLE_TEXT) {
    const alone = rows[engine]?.at(-1) as Timing;
    const encode = await opusEncodeMs(alone.bytes, SPEECH_KBPS);
    add(`${engine} + encode`, { first_ms: 0, total_ms: alone.total_ms + encode, bytes: alone.bytes });
  }
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
 * Prints, per path, the whole ten-sentence text through the hub (a miss) against the engine alone on the same
 * text plus the Opus encode of its PCM, taken in the same run (median of the per-run ratios; target ≤ 1.05).
 */
function printWholeText(rows: Rows): void {
  const total = (t: Timing): number => t.total_ms;
  for (const { label, hub, engine } of WHOLE_TEXT) {
    const h = values(rows, hub, total);
    const base = values(rows, `${engine} + encode`, total);
    line(`whole text via ${label}: hub / engine + encode`, `${ms(median(h))} / ${ms(median(base))}`);
    line(`whole text via ${label}: hub ÷ (engine + encode) (target ≤ 1.05)`, pairRatio(h, base, 1.05));
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
  const runs = runsWanted();
  try {
    process.stdout.write(
      `\nHome Assistant speech engine (issue 12): real wyoming-piper, ten sentences, real Python clients, ${runs} runs\n`,
    );
    // Warm-up: Piper loads its voice; the hub's encoder pool fills.
    await runJobs([
      { kind: 'plain', ...ctx.direct, text: ctx.next() },
      { kind: 'plain', ...ctx.viaHub, text: ctx.next() },
      { kind: 'stream', ...ctx.viaHub, text: ctx.next() },
      ...STREAM_FORMATS.map(
        (format): Job => ({ kind: 'openai', base_url: ctx.openaiUrl, text: ctx.next(), format }),
      ),
      { kind: 'say', base_url: ctx.hubUrl, text: ctx.next() },
    ]);
    const rows: Rows = {};
    for (let r = 0; r < runs; r++) await runOnce(ctx, r, rows);
    printWyoming(rows);
    printWholeText(rows);
    printSpeech(rows);
  } finally {
    await hub.close();
    await piper.stop();
    await broker.stop();
  }
}
