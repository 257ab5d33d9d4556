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
 * two measurements taken one right after the other, so a loaded machine moves both sides alike.
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
const RUNS = 5;

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

/**
 * Prints, per path, the whole ten-sentence text through the hub (a miss) against the engine alone on such a
 * text plus the Opus encode of its PCM, taken in the same run (median of the per-run ratios; target ≤ 1.05).
 */
function printWholeText(rows: Record<string, Timing[]>): void {
  const totals = (name: string): number[] => (rows[name] ?? []).map((t) => t.total_ms);
  const base = totals('engine + encode');
  line('whole text: engine alone + Opus encode', ms(median(base)));
  const paths: Array<[string, string]> = [
    ['Wyoming plain', 'plain hub'],
    ['Wyoming streaming', 'stream hub'],
    ['HTTP say (wait)', 'whole say'],
    ['/v1/audio/speech opus', 'whole openai opus'],
  ];
  for (const [label, name] of paths) {
    const hub = totals(name);
    const r = median(hub.map((x, i) => x / (base[i] as number)));
    line(
      `whole text via ${label}: ${ms(median(hub))}, hub ÷ (engine + encode) (target ≤ 1.05)`,
      ratio(r, 1.05),
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
  const direct = { host: '127.0.0.1', port: piper.port };
  const viaHub = { host: '127.0.0.1', port: wyomingPort };
  const openaiUrl = `${hub.baseUrl}/v1`;
  let n = 1000;
  const next = (): string => freshText(n++);
  try {
    process.stdout.write(
      '\nHome Assistant speech engine (issue 12): real wyoming-piper, ten sentences, real Python clients\n',
    );
    // Warm-up: Piper loads its voice; the hub's encoder pool fills.
    await runJobs([
      { kind: 'plain', ...direct, text: next() },
      { kind: 'plain', ...viaHub, text: next() },
      { kind: 'stream', ...viaHub, text: next() },
      ...STREAM_FORMATS.map((format): Job => ({ kind: 'openai', base_url: openaiUrl, text: next(), format })),
    ]);
    const rows: Record<string, Timing[]> = {};
    const add = (name: string, t: Timing | undefined): void => {
      if (!t) return;
      const list = rows[name] ?? [];
      list.push(t);
      rows[name] = list;
    };
    for (let r = 0; r < RUNS; r++) {
      const plainText = next();
      const streamText = next();
      const short = (): string => splitSentences(next()).slice(0, 3).join(' ');
      const jobs: Job[] = [
        { kind: 'plain', ...direct, text: next() },
        { kind: 'plain', ...viaHub, text: plainText },
        { kind: 'plain', ...viaHub, text: plainText },
        { kind: 'stream', ...direct, text: next() },
        { kind: 'stream', ...viaHub, text: streamText },
        { kind: 'stream', ...viaHub, text: streamText },
        // Each format right after the engine's own first sentence of a text just like it.
        ...STREAM_FORMATS.flatMap((format): Job[] => [
          { kind: 'plain', ...direct, text: splitSentences(next())[0] as string },
          { kind: 'openai', base_url: openaiUrl, text: short(), format },
        ]),
        // The whole ten sentences as Ogg Opus through /v1/audio/speech (a miss).
        { kind: 'openai', base_url: openaiUrl, text: next(), format: 'opus' },
      ];
      const t = await runJobs(jobs);
      add('whole openai opus', t[6 + 2 * STREAM_FORMATS.length]);
      add('whole say', { first_ms: 0, total_ms: await sayTotalMs(hub.baseUrl, next()), bytes: 0 });
      // The engine alone plus its encode: this run's plain direct total and the Opus encode of as much PCM.
      const engine = t[0] as Timing;
      const encode = await opusEncodeMs(engine.bytes, SPEECH_KBPS);
      add('engine + encode', { first_ms: 0, total_ms: engine.total_ms + encode, bytes: engine.bytes });
      const names = ['plain direct', 'plain hub', 'plain hit', 'stream direct', 'stream hub', 'stream hit'];
      for (const [i, name] of names.entries()) add(name, t[i]);
      for (const [i, format] of STREAM_FORMATS.entries()) {
        add(`sentence ${format}`, t[6 + 2 * i]);
        add(`openai ${format}`, t[7 + 2 * i]);
      }
    }
    const values = (name: string, pick: (t: Timing) => number): number[] => (rows[name] ?? []).map(pick);
    const first = (name: string): number => median(values(name, (t) => t.first_ms));
    const total = (name: string): number => median(values(name, (t) => t.total_ms));
    /** Median of the per-run ratios a ÷ b. */
    const pairRatio = (a: number[], b: number[]): number => median(a.map((x, i) => x / (b[i] as number)));
    for (const mode of ['plain', 'stream'] as const) {
      const label = mode === 'plain' ? 'plain synthesize' : 'streaming synthesize';
      const hubRows = `${mode} hub`;
      const directRows = `${mode} direct`;
      line(`${label}: first chunk direct / hub (miss)`, `${ms(first(directRows))} / ${ms(first(hubRows))}`);
      line(
        `${label}: first chunk hub ÷ direct (target ≤ 1.1)`,
        ratio(
          pairRatio(
            values(hubRows, (t) => t.first_ms),
            values(directRows, (t) => t.first_ms),
          ),
          1.1,
        ),
      );
      line(`${label}: total direct / hub (miss)`, `${ms(total(directRows))} / ${ms(total(hubRows))}`);
      line(
        `${label}: total hub ÷ direct (target ≤ 1.1)`,
        ratio(
          pairRatio(
            values(hubRows, (t) => t.total_ms),
            values(directRows, (t) => t.total_ms),
          ),
          1.1,
        ),
      );
      const hit = first(`${mode} hit`);
      line(`${label}: a hit's first chunk (target ≤ 20 ms)`, `${ms(hit)}${hit <= 20 ? '  ✓' : '  ✗'}`);
    }
    printWholeText(rows);
    for (const format of STREAM_FORMATS) {
      const ttfb = values(`openai ${format}`, (t) => t.first_ms);
      const sentence = values(`sentence ${format}`, (t) => t.total_ms);
      line(
        `/v1/audio/speech ${format}: first byte ${ms(median(ttfb))} vs sentence ${ms(median(sentence))}`,
        `${ratio(pairRatio(ttfb, sentence), 1.2)}`,
      );
    }
  } finally {
    await hub.close();
    await piper.stop();
    await broker.stop();
  }
}
