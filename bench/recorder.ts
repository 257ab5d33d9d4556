/**
 * Recorder benchmark (DESIGN quality bar: ≥ 24 concurrent live 16 kHz recordings on 2 cores with no dropped
 * audio, status at least every 2 s). For each count it feeds N recordings 100 ms chunks at real-time pace, then
 * checks every finished file holds all the audio, the live encoder never fell back to the sidecar, the feeder
 * kept its pace and status came at least every 2 s. CPU per recording (hub + its ffmpeg) is compared with a
 * bare ffmpeg encode of the same audio with the same options.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runFfmpeg } from '../src/audio/ffmpeg.js';
import { recordingEncoderArgs } from '../src/audio/ffmpeg-args.js';
import { MIC_FORMAT } from '../src/audio/format.js';
import { oggOpusFileDurationMs } from '../src/audio/ogg.js';
import { createRecorder } from '../src/recorder/recorder.js';
import type { RecordingSession } from '../src/recorder/session.js';
import { recorderOptions, repeatedSpeechPcm } from '../test/helpers/recorder.js';

const BYTES_PER_S = 32_000;
const CHUNK_MS = 100;
const CLOCK_TICKS_PER_S = 100;

/** One concurrency level. */
export interface RecorderBenchRow {
  recordings: number;
  /** True when no audio was dropped, no encoder fell back, the feeder kept pace and status gaps ≤ 2 s. */
  realTime: boolean;
  /** Sum over recordings of |fed duration − file duration| beyond 60 ms, in ms. */
  droppedMs: number;
  /** Recordings whose live encoder failed or lagged (encoded from the sidecar instead). */
  fellBack: number;
  /** Worst lateness of the 100 ms feeding tick, in ms. */
  maxFeedLagMs: number;
  /** Longest gap between two status updates of one device while recording, in ms. */
  maxStatusGapMs: number;
  /** CPU (hub + ffmpeg) per recording, as % of one core. */
  cpuPctPerRecording: number;
}

/** What {@link benchRecorder} measures. */
export interface RecorderBenchResult {
  rows: RecorderBenchRow[];
  /** The largest tested count kept in real time with no dropped audio. */
  maxRealTimeRecordings: number;
  /** A bare ffmpeg encode of the same audio (same options), as % of one core over the audio's duration. */
  bareFfmpegCpuPct: number;
  /** cpuPctPerRecording at the largest real-time count ÷ bareFfmpegCpuPct. */
  cpuRatio: number;
}

/** This process's CPU plus that of its reaped children (ffmpeg), in ms, from /proc/self/stat. */
async function cpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // Fields 14-17 (utime, stime, cutime, cstime) are at 11-14 after the command name.
  const ticks = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
  return (ticks / CLOCK_TICKS_PER_S) * 1000;
}

/** `seconds` of espeak-ng speech at 16 kHz s16le mono (the sentence repeated). */
const speech = (seconds: number): Promise<Buffer> =>
  repeatedSpeechPcm(
    'Satellite microphones send audio, and the hub records it as Opus while it arrives.',
    seconds,
  );

async function bareFfmpegCpuPct(pcm: Buffer, dir: string): Promise<number> {
  const before = await cpuMs();
  const ff = runFfmpeg(recordingEncoderArgs(MIC_FORMAT, 24, join(dir, 'bare.opus')));
  ff.stdin.end(pcm);
  ff.stdout.resume();
  await ff.done;
  const used = (await cpuMs()) - before;
  return (used / ((pcm.length / BYTES_PER_S) * 1000)) * 100;
}

async function feedAll(sessions: RecordingSession[], pcm: Buffer): Promise<number> {
  const chunkBytes = (BYTES_PER_S * CHUNK_MS) / 1000;
  const t0 = performance.now();
  let maxLag = 0;
  for (let i = 0; i * chunkBytes < pcm.length; i++) {
    // How late this tick runs against its schedule: the pace the sources would see.
    maxLag = Math.max(maxLag, performance.now() - (t0 + i * CHUNK_MS));
    const chunk = pcm.subarray(i * chunkBytes, (i + 1) * chunkBytes);
    for (const s of sessions) s.write(chunk);
    const wait = t0 + (i + 1) * CHUNK_MS - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return Math.max(0, maxLag);
}

async function runLevel(count: number, pcm: Buffer): Promise<RecorderBenchRow> {
  const shareDir = await mkdtemp(join(tmpdir(), 'bench-rec-'));
  const lastStatus = new Map<string, number>();
  let maxStatusGapMs = 0;
  const recorder = createRecorder(
    recorderOptions(shareDir, {
      onStatus: (device, payload) => {
        const now = performance.now();
        const prev = lastStatus.get(device);
        if (payload.in_progress && prev !== undefined) maxStatusGapMs = Math.max(maxStatusGapMs, now - prev);
        lastStatus.set(device, now);
      },
    }),
  );
  try {
    await recorder.start();
    const before = await cpuMs();
    const sessions = await Promise.all(
      Array.from({ length: count }, (_, i) => recorder.open(`bench${i}`, MIC_FORMAT, { idleTimeoutMs: 0 })),
    );
    const maxFeedLagMs = await feedAll(sessions, pcm);
    const infos = await Promise.all(sessions.map((s) => s.close()));
    const cpuUsed = (await cpuMs()) - before;
    const fedMs = (pcm.length / BYTES_PER_S) * 1000;
    let droppedMs = 0;
    for (const info of infos)
      droppedMs += Math.max(0, fedMs - ((await oggOpusFileDurationMs(info.path)) ?? 0) - 60);
    const statuses = sessions.map((s) => recorder.deviceStatus(s.device));
    const fellBack = statuses.filter((s) => s.last?.from_sidecar || s.state === 'error').length;
    const cpuPctPerRecording = (cpuUsed / fedMs / count) * 100;
    const realTime = droppedMs === 0 && fellBack === 0 && maxFeedLagMs < 250 && maxStatusGapMs <= 2000;
    return {
      recordings: count,
      realTime,
      droppedMs: Math.round(droppedMs),
      fellBack,
      maxFeedLagMs: Math.round(maxFeedLagMs),
      maxStatusGapMs: Math.round(maxStatusGapMs),
      cpuPctPerRecording: Number(cpuPctPerRecording.toFixed(2)),
    };
  } finally {
    await recorder.stop();
    await rm(shareDir, { recursive: true, force: true });
  }
}

/**
 * Runs the recorder benchmark: `counts` concurrent recordings (default 8, 16, 24, 32) of `seconds` (default
 * 10) of 16 kHz speech each, fed at real-time pace.
 */
export async function benchRecorder(
  opts: { counts?: number[]; seconds?: number } = {},
): Promise<RecorderBenchResult> {
  const pcm = await speech(opts.seconds ?? 10);
  const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
  let bare: number;
  try {
    bare = await bareFfmpegCpuPct(pcm, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const rows: RecorderBenchRow[] = [];
  for (const count of opts.counts ?? [8, 16, 24, 32]) rows.push(await runLevel(count, pcm));
  const best = rows.filter((r) => r.realTime).at(-1);
  return {
    rows,
    maxRealTimeRecordings: best?.recordings ?? 0,
    bareFfmpegCpuPct: Number(bare.toFixed(2)),
    cpuRatio: best ? Number((best.cpuPctPerRecording / bare).toFixed(2)) : Number.NaN,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const result = await benchRecorder(counts.length > 0 ? { counts } : {});
  console.table(result.rows);
  console.log(JSON.stringify({ ...result, rows: undefined }, null, 2));
}
