/**
 * `npm run bench -- engines [--text FILE] [--voice V] [--runs N] [--engine NAME] [--rtf-threshold X]
 * [--config FILE]`: how fast each engine speaks, on the user's own text. Each engine, and each of its instances,
 * is driven directly by its client (the whole text in one request), then the same engine through the hub
 * (POST /api/say, no cache; the hub sends Wyoming and HTTP engines one sentence at a time): time to
 * first audio, total time, and the real-time factor (RTF: synthesis time ÷ audio duration) as min / median /
 * p95 / max, with the hub ÷ direct ratios from the same run. Without --config the engines are espeak-ng and the
 * real Piper (two wyoming-piper instances from the venv, voice en_US-joe-medium). With --rtf-threshold X the
 * command fails (exit code 1) when an engine's median RTF is above X (slower than real time × X): a gate for
 * CI. Then the routing figures of bench/routing.ts (not with --engine or --config: they measure the hub).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pcmDurationMs } from '../src/audio/format.js';
import { loadConfig } from '../src/config/load.js';
import { type EngineOptions, EngineOptionsSchema } from '../src/config/schema.js';
import { silentLog } from '../src/shared/log.js';
import type { Engine } from '../src/tts/engine.js';
import { createEngineEntries } from '../src/tts/engine-entries.js';
import { endpointOf } from '../src/tts/engine-pool.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../test/helpers/piper.js';
import { corpus } from './corpus.js';
import { benchRouting } from './routing.js';
import { percentile } from './stats.js';

/** The command line of this bench. */
export interface EnginesArgs {
  textFile?: string;
  voice?: string;
  runs: number;
  engine?: string;
  rtfThreshold?: number;
  config?: string;
}

/** Reads this bench's flags from argv (other benches' names and flags are left alone). */
export function enginesArgs(argv = process.argv.slice(2)): EnginesArgs {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: {
      text: { type: 'string' },
      voice: { type: 'string' },
      runs: { type: 'string' },
      engine: { type: 'string' },
      'rtf-threshold': { type: 'string' },
      config: { type: 'string' },
    },
  });
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const threshold = str(values['rtf-threshold']);
  return {
    textFile: str(values.text),
    voice: str(values.voice),
    runs: Math.max(1, Number(str(values.runs) ?? 5) || 5),
    engine: str(values.engine),
    rtfThreshold: threshold === undefined ? undefined : Number(threshold),
    config: str(values.config),
  };
}

/** One measured synthesis, in ms. */
interface Sample {
  ttfaMs: number;
  totalMs: number;
  audioMs: number;
}

/** Speaks `text` on `engine` directly; times the first audio and the end. */
async function direct(engine: Engine, text: string, voice: string | undefined): Promise<Sample> {
  const t0 = performance.now();
  let ttfaMs = 0;
  let audioMs = 0;
  for await (const chunk of engine.synthesize({ text, voice }, AbortSignal.timeout(300_000))) {
    if (!ttfaMs && chunk.pcm.length) ttfaMs = performance.now() - t0;
    audioMs += pcmDurationMs(chunk.pcm.length, chunk.format);
  }
  return { ttfaMs, totalMs: performance.now() - t0, audioMs };
}

/** Speaks `text` through the hub (POST /api/say, no cache lookups). */
async function viaHub(
  baseUrl: string,
  engine: string,
  text: string,
  voice: string | undefined,
): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, engine, cache: false, deadline_s: 600, ...(voice ? { voice } : {}) }),
  });
  const r = (await res.json()) as {
    ok: boolean;
    duration_ms: number;
    latency_ms: { first_audio: number };
    error?: unknown;
  };
  if (!r.ok) throw new Error(`say through the hub failed: ${JSON.stringify(r.error)}`);
  return { ttfaMs: r.latency_ms.first_audio, totalMs: performance.now() - t0, audioMs: r.duration_ms };
}

/** A row of the table: label, TTFA p50, total p50, RTF min / median / p95 / max. */
function row(label: string, samples: Sample[]): { medianRtf: number; totalP50: number; ttfaP50: number } {
  const rtf = samples.map((s) => s.totalMs / s.audioMs);
  const ttfaP50 = percentile(
    samples.map((s) => s.ttfaMs),
    50,
  );
  const totalP50 = percentile(
    samples.map((s) => s.totalMs),
    50,
  );
  const medianRtf = percentile(rtf, 50);
  const fmt = (n: number): string => n.toFixed(3);
  const rtfText = `${fmt(Math.min(...rtf))} / ${fmt(medianRtf)} / ${fmt(percentile(rtf, 95))} / ${fmt(Math.max(...rtf))}`;
  process.stdout.write(
    `  ${label.padEnd(44)} ${`${ttfaP50.toFixed(0)} ms`.padStart(9)} ${`${totalP50.toFixed(0)} ms`.padStart(10)}   ${rtfText}\n`,
  );
  return { medianRtf, totalP50, ttfaP50 };
}

/** The texts: the file's non-empty lines (or its whole text when it has one paragraph), else five announcements. */
function texts(args: EnginesArgs): { texts: string[]; label: string } {
  if (!args.textFile) return { texts: corpus().slice(0, 5), label: 'five announcements from the corpus' };
  const lines = readFileSync(args.textFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return { texts: lines.length ? lines : ['(empty file)'], label: args.textFile };
}

/** The engines to measure and what must be stopped afterwards. */
async function engineSet(args: EnginesArgs): Promise<{ engines: EngineOptions[]; pipers: RunningPiper[] }> {
  if (args.config) return { engines: loadConfig(['--config', args.config]).options.engines, pipers: [] };
  const engines = [EngineOptionsSchema.parse({ name: 'espeak', type: 'espeak', max_parallel: 2 })];
  if (args.engine && args.engine !== 'piper') return { engines, pipers: [] };
  const pipers = await Promise.all([startWyomingPiper(), startWyomingPiper()]);
  const urls = pipers.map((p) => p.url);
  engines.push(
    EngineOptionsSchema.parse({ name: 'piper', type: 'piper', urls, voice: PIPER_VOICE, timeout_s: 120 }),
  );
  return { engines, pipers };
}

/** Runs the engines bench and prints its table; sets a failing exit code when --rtf-threshold is exceeded. */
export async function benchEngines(args: EnginesArgs = enginesArgs()): Promise<void> {
  const { engines: all, pipers } = await engineSet(args);
  const engines = args.engine ? all.filter((e) => e.name === args.engine) : all;
  if (engines.length === 0)
    throw new Error(`no engine named '${args.engine}' (have: ${all.map((e) => e.name).join(', ')})`);
  const broker = await startMosquitto();
  const hub = await startInProcessHub({ engines: all.map((e) => ({ ...e })) }, broker.url);
  const { texts: list, label } = texts(args);
  const failures: string[] = [];
  try {
    process.stdout.write(
      `\nEngines (issue 16): ${args.runs} runs per row, text: ${label}; direct = the engine's own client\n`,
    );
    process.stdout.write(
      `  ${'engine / path'.padEnd(44)} ${'TTFA p50'.padStart(9)} ${'total p50'.padStart(10)}   RTF min / median / p95 / max\n`,
    );
    for (const entry of createEngineEntries(engines, { log: silentLog() })) {
      const name = entry.engine.name;
      const voice = args.voice ?? entry.voice;
      const text = (r: number, path: string): string => `${list[r % list.length]} (${path} ${r})`;
      const instances = entry.instances ?? [];
      let directRow: ReturnType<typeof row> | undefined;
      for (const [i, instance] of instances.entries()) {
        await direct(instance.engine, 'Warming up.', voice); // each instance loads its voice first
        const samples: Sample[] = [];
        for (let r = 0; r < args.runs; r++)
          samples.push(await direct(instance.engine, text(r, `direct ${i}`), voice));
        const shown = row(`${name} direct (${endpointOf(instance.url)})`, samples);
        directRow ??= shown;
        if (args.rtfThreshold !== undefined && shown.medianRtf > args.rtfThreshold) {
          failures.push(
            `${name} (${endpointOf(instance.url)}): median RTF ${shown.medianRtf.toFixed(3)} > ${args.rtfThreshold}`,
          );
        }
      }
      await viaHub(hub.baseUrl, name, 'Warming up the hub.', args.voice);
      const hubSamples: Sample[] = [];
      for (let r = 0; r < args.runs; r++)
        hubSamples.push(await viaHub(hub.baseUrl, name, text(r, 'hub'), args.voice));
      const hubRow = row(`${name} through the hub (POST /api/say)`, hubSamples);
      if (directRow) {
        process.stdout.write(
          `  ${`${name}: hub ÷ direct`.padEnd(44)} ${`${(hubRow.ttfaP50 / directRow.ttfaP50).toFixed(2)}×`.padStart(9)} ${`${(hubRow.totalP50 / directRow.totalP50).toFixed(2)}×`.padStart(10)}\n`,
        );
      }
    }
    if (args.rtfThreshold !== undefined) {
      process.stdout.write(
        failures.length
          ? `  RTF threshold ${args.rtfThreshold}: FAILED\n${failures.map((f) => `    ✗ ${f}\n`).join('')}`
          : `  RTF threshold ${args.rtfThreshold}: every engine is within it  ✓\n`,
      );
      if (failures.length) process.exitCode = 1;
    }
  } finally {
    await hub.close();
    await broker.stop();
    await Promise.all(pipers.map((p) => p.stop()));
  }
  // The routing figures measure the hub, not the user's engines: skipped when the run is about those.
  if (args.engine || args.config) {
    process.stdout.write('  (routing figures skipped with --engine/--config; run without them for those)\n');
    return;
  }
  await benchRouting();
}
