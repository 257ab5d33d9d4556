/**
 * The recorder with real ffmpeg/ffprobe and espeak-ng speech: live status, a partial file that plays during the
 * recording, atomic finalization, a killed encoder, recovery without a sidecar, retention, refusals.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runFfmpeg } from '../../src/audio/ffmpeg.js';
import { recordingEncoderArgs } from '../../src/audio/ffmpeg-args.js';
import { MIC_FORMAT } from '../../src/audio/format.js';
import { filePath, locate } from '../../src/recorder/names.js';
import { createRecorder, type Recorder, type RecorderOptions } from '../../src/recorder/recorder.js';
import type { RecordingSession } from '../../src/recorder/session.js';
import type { DeviceStatus, RecorderTotals } from '../../src/recorder/status.js';
import { isAppError } from '../../src/shared/errors.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { recorderOptions } from '../helpers/recorder.js';

const run = promisify(execFile);
const BYTES_PER_S = 32_000;
const CHUNK_MS = 100;

/** `seconds` of espeak-ng speech at 16 kHz s16le mono, padded with silence to exactly that length. */
async function speechPcm(seconds: number): Promise<Buffer> {
  const { stdout: wav } = await run(
    'espeak-ng',
    ['--stdout', 'The kitchen satellite is recording this sentence.'],
    {
      encoding: 'buffer',
      maxBuffer: 1 << 24,
    },
  );
  const ff = runFfmpeg([
    '-i',
    'pipe:0',
    '-ar',
    '16000',
    '-ac',
    '1',
    '-af',
    `apad=whole_dur=${seconds}`,
    '-t',
    String(seconds),
    '-f',
    's16le',
    'pipe:1',
  ]);
  ff.stdin.end(wav);
  const parts: Buffer[] = [];
  for await (const part of ff.stdout) parts.push(part as Buffer);
  await ff.done;
  return Buffer.concat(parts);
}

/** Writes `pcm` to `session` in 100 ms chunks at real-time pace; `onChunk` runs after each chunk. */
async function feed(
  session: RecordingSession,
  pcm: Buffer,
  onChunk?: (sentMs: number) => Promise<void> | void,
) {
  const chunkBytes = (BYTES_PER_S * CHUNK_MS) / 1000;
  const t0 = performance.now();
  for (let at = 0, i = 0; at < pcm.length; at += chunkBytes, i++) {
    session.write(pcm.subarray(at, at + chunkBytes));
    await onChunk?.(((at + chunkBytes) / BYTES_PER_S) * 1000);
    // Real-time pace, as a microphone sends: the sleep paces the input, it waits for nothing.
    const due = t0 + (i + 1) * CHUNK_MS - performance.now();
    if (due > 0) await sleep(due);
  }
}

/** How many ms of audio ffmpeg decodes from `path` (what a player would play now). */
async function decodedMs(path: string): Promise<number> {
  const { stdout } = await run(
    'ffmpeg',
    ['-v', 'error', '-i', path, '-ac', '1', '-ar', '16000', '-f', 's16le', 'pipe:1'],
    {
      encoding: 'buffer',
      maxBuffer: 1 << 26,
    },
  );
  return (stdout.length / BYTES_PER_S) * 1000;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(entry.name);
  }
  return out;
}

/** The pid of the process whose command line names `fragment` (the live ffmpeg writing that file). */
async function pidWriting(fragment: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('ffmpeg') && cmdline.includes(fragment)) return Number(entry);
  }
  throw new Error(`no ffmpeg writes ${fragment}`);
}

let speech6s: Buffer;
let shareDir: string;
let recorder: Recorder | undefined;
const statuses: DeviceStatus[] = [];
const totals: RecorderTotals[] = [];

async function startRecorder(extra: Partial<RecorderOptions> = {}): Promise<Recorder> {
  recorder = createRecorder(
    recorderOptions(shareDir, {
      publicUrl: (id) => `http://hub:8099/api/recordings/${id}/audio`,
      onStatus: (_device, payload) => statuses.push(payload),
      onTotals: (payload) => totals.push(payload),
      ...extra,
    }),
  );
  await recorder.start();
  return recorder;
}

/**
 * Records `seconds` of speech on devices a, b and c in turn and returns their ids; `spaced` lets 1.1 s pass after
 * each, so their start times differ.
 */
async function recordThree(rec: Recorder, seconds: number, spaced: boolean): Promise<string[]> {
  const ids: string[] = [];
  for (const device of ['a', 'b', 'c']) {
    const s = await rec.open(device);
    s.write(speech6s.subarray(0, seconds * BYTES_PER_S));
    await s.close();
    ids.push(s.id);
    // Start times have whole-second precision: the wall clock must move, nothing to wait on.
    if (spaced) await sleep(1100);
  }
  return ids;
}

/** Each test of the calling describe gets a fresh share dir; afterwards its recorder is stopped and all removed. */
function freshRecorderEachTest(): void {
  beforeEach(async () => {
    shareDir = await mkdtemp(join(tmpdir(), 'rec-'));
  });
  afterEach(async () => {
    await recorder?.stop();
    recorder = undefined;
    statuses.length = 0;
    totals.length = 0;
    await rm(shareDir, { recursive: true, force: true });
  });
}

beforeAll(async () => {
  speech6s = await speechPcm(6);
});

describe('recorder with real ffmpeg: recording', () => {
  freshRecorderEachTest();

  it('records 6 s at real-time pace: growing live status, a partial file that decodes mid-way, a finished 6 s .opus', async () => {
    const rec = await startRecorder();
    const session = await rec.open('kitchen', MIC_FORMAT, { source: 'mqtt' });
    let midwayMs = 0;
    await feed(session, speech6s, async (sentMs) => {
      if (sentMs === 3500) {
        const live = await rec.get(session.id);
        expect(live.path.endsWith('.partial.opus')).toBe(true);
        midwayMs = await decodedMs(live.path);
        const rows = await rec.list();
        expect(rows[0]).toMatchObject({ id: session.id, device: 'kitchen', in_progress: true });
      }
    });
    const info = await session.close();

    expect(midwayMs).toBeGreaterThan(1500);
    const live = statuses.filter((s) => s.state === 'recording' && s.id === session.id);
    const sizes = [...new Set(live.map((s) => s.bytes))].filter((b) => b > 0);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(live.at(-1)?.url).toBe(`http://hub:8099/api/recordings/${session.id}/audio`);
    const probe = await ffprobe(info.path);
    expect(probe.codec).toBe('opus');
    expect(Math.abs(probe.durationMs - 6000)).toBeLessThanOrEqual(400);
    expect(await filesUnder(shareDir)).toEqual([`${info.file.split('/').at(-1)}`]);
    expect(statuses.at(-1)).toMatchObject({ state: 'idle', in_progress: false, last: { id: session.id } });
    expect(totals.at(-1)).toMatchObject({ recording: 0, recordings: 1, total_bytes: info.bytes });
    expect(totals.at(-1)?.disk_free_bytes).toBeGreaterThan(0);
  });

  it('streams a recording in progress from its start and follows it to the end', async () => {
    const rec = await startRecorder();
    const session = await rec.open('desk');
    await feed(session, speech6s.subarray(0, BYTES_PER_S));
    const audio = await rec.audio(session.id);
    expect(audio.info.inProgress).toBe(true);
    const parts: Buffer[] = [];
    const reading = (async () => {
      for await (const part of audio.body) parts.push(part as Buffer);
    })();
    await feed(session, speech6s.subarray(BYTES_PER_S, 3 * BYTES_PER_S));
    await session.close();
    await reading;
    const copy = join(shareDir, 'streamed.opus');
    await writeFile(copy, Buffer.concat(parts));
    expect(Math.abs((await decodedMs(copy)) - 3000)).toBeLessThanOrEqual(400);
  });
});

describe('recorder with real ffmpeg: crash recovery', () => {
  freshRecorderEachTest();

  it('keeps every byte when only ffmpeg is killed mid-recording, and says so in the status', async () => {
    const rec = await startRecorder({ keepWav: true });
    const session = await rec.open('porch');
    // The live encoder starts with the first audio.
    await feed(session, speech6s.subarray(0, 2 * BYTES_PER_S));
    const pid = await pidWriting(`_${session.id}.partial.opus`);
    process.kill(pid, 'SIGKILL');
    await vi.waitFor(() => expect(rec.deviceStatus('porch').warning).toBeDefined(), { timeout: 5000 });
    await feed(session, speech6s.subarray(2 * BYTES_PER_S, 4 * BYTES_PER_S));
    expect(statuses.some((s) => s.state === 'recording' && s.warning !== undefined)).toBe(true);
    const info = await session.close();
    const probe = await ffprobe(info.path);
    expect(Math.abs(probe.durationMs - 4000)).toBeLessThanOrEqual(400);
    expect(statuses.at(-1)?.last).toMatchObject({ id: session.id, from_sidecar: true });
    const names = await filesUnder(shareDir);
    expect(names.some((n) => n.endsWith('.partial.opus'))).toBe(false);
    expect(names.filter((n) => n.endsWith('.wav'))).toHaveLength(1);
  });

  it('recovers the playable part of a stale partial file that has no sidecar', async () => {
    const loc = locate(shareDir, 'attic', 'stale1', new Date('2026-01-02T03:04:05Z'));
    await mkdir(loc.dir, { recursive: true });
    const ff = runFfmpeg(recordingEncoderArgs(MIC_FORMAT, 24, filePath(loc, 'partial')));
    ff.stdin.end(speech6s.subarray(0, 3 * BYTES_PER_S));
    await ff.done;
    const partial = filePath(loc, 'partial');
    await truncate(partial, (await stat(partial)).size - 700);
    const rec = await startRecorder();
    const rows = await rec.list();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 'stale1', device: 'attic', in_progress: false });
    expect(rows[0]?.file).toBe('recordings/attic/2026-01-02/03-04-05_stale1.opus');
    expect(await decodedMs(join(shareDir, rows[0]?.file ?? ''))).toBeGreaterThan(2000);
    expect(statuses.find((s) => s.device === 'attic')?.last).toMatchObject({ id: 'stale1', recovered: true });
    expect(await filesUnder(shareDir)).toEqual(['03-04-05_stale1.opus']);
  });
});

describe('recorder with real ffmpeg: devices, ids and the idle timeout', () => {
  freshRecorderEachTest();

  it('a second open on the same device finalizes the first recording', async () => {
    const rec = await startRecorder();
    const first = await rec.open('hall');
    first.write(speech6s.subarray(0, BYTES_PER_S));
    const second = await rec.open('hall');
    expect(first.active).toBe(false);
    expect(rec.active('hall')).toBe(second);
    const rows = await rec.list();
    expect(rows.map((r) => [r.id, r.in_progress])).toEqual([
      [second.id, true],
      [first.id, false],
    ]);
    expect(rows[1]?.duration_ms).toBe(1000);
  });

  it('refuses bad device names and ids, and deleting a recording in progress', async () => {
    const rec = await startRecorder();
    for (const bad of ['../etc', 'a b', '', 'x'.repeat(65), 'kitchen/../../x', 'é']) {
      await expect(rec.open(bad)).rejects.toSatisfy((e) => isAppError(e, 'INVALID_DEVICE'));
    }
    await expect(rec.open('ok', MIC_FORMAT, { id: '../x' })).rejects.toSatisfy((e) =>
      isAppError(e, 'BAD_PAYLOAD'),
    );
    await expect(rec.open('ok', { rateHz: 16000, widthBytes: 3, channels: 1 })).rejects.toSatisfy((e) =>
      isAppError(e, 'BAD_PAYLOAD'),
    );
    const session = await rec.open('hall', MIC_FORMAT, { id: 'take-1' });
    session.write(speech6s.subarray(0, BYTES_PER_S));
    await expect(rec.open('other', MIC_FORMAT, { id: 'take-1' })).rejects.toSatisfy((e) =>
      isAppError(e, 'CONFLICT'),
    );
    await expect(rec.delete('take-1')).rejects.toSatisfy((e) => isAppError(e, 'CONFLICT'));
    await expect(rec.delete('nope')).rejects.toSatisfy((e) => isAppError(e, 'NOT_FOUND'));
    await expect(rec.get('nope')).rejects.toSatisfy((e) => isAppError(e, 'NOT_FOUND'));
    const info = await session.close();
    expect(() => session.write(speech6s.subarray(0, 320))).toThrow(/has ended/);
    await rec.delete('take-1');
    await expect(stat(info.path)).rejects.toThrow();
    expect(await rec.list()).toEqual([]);
  });

  it('ends a recording that gets no audio for the idle timeout', async () => {
    const rec = await startRecorder({ idleTimeoutMs: 400 });
    const session = await rec.open('satellite1', MIC_FORMAT, { source: 'hermes' });
    session.write(speech6s.subarray(0, BYTES_PER_S));
    // Ended and finalized: the device status names the finished recording.
    await vi.waitFor(
      () => expect(rec.deviceStatus('satellite1')).toMatchObject({ state: 'idle', last: { id: session.id } }),
      { timeout: 5000 },
    );
    expect(session.active).toBe(false);
    expect(rec.active('satellite1')).toBeUndefined();
    const [row] = await rec.list();
    expect(row).toMatchObject({ id: session.id, in_progress: false });
    expect(Math.abs((row?.duration_ms ?? 0) - 1000)).toBeLessThanOrEqual(100);
  });
});

describe('recorder with real ffmpeg: retention', () => {
  freshRecorderEachTest();

  it('prunes recordings older than retention_days, oldest first, never the recording in progress', async () => {
    const rec = await startRecorder({ retentionDays: 1 });
    const ids = await recordThree(rec, 1, true);
    const current = await rec.open('d');
    current.write(speech6s.subarray(0, BYTES_PER_S));
    expect((await rec.prune()).deleted).toEqual([]);
    const later = new Date(Date.now() + 2 * 86_400_000);
    expect((await rec.prune(later)).deleted).toEqual(ids);
    expect((await rec.list()).map((r) => r.id)).toEqual([current.id]);
    await current.close();
    expect((await rec.list()).map((r) => r.id)).toEqual([current.id]);
  });

  it('prunes the oldest recordings first when the total size is over max_total_mb', async () => {
    const rec = await startRecorder({ maxTotalMb: 0.01 }); // ~10 KB: room for about one 2 s recording
    const ids = await recordThree(rec, 2, true);
    const result = await rec.prune();
    expect(result.deleted).toEqual(ids.slice(0, 2));
    expect((await rec.list()).map((r) => r.id)).toEqual([ids[2]]);
  });

  it('runs retention from its node-cron schedule, without being called', async () => {
    // Every second instead of hourly; nothing below calls prune() itself.
    const rec = await startRecorder({ maxTotalMb: 0.01, pruneCron: '* * * * * *' });
    const ids = await recordThree(rec, 2, false);
    // Only start() and the schedule prune (start() ran on an empty share), so fewer than 3 means the cron ran.
    await expect.poll(async () => (await rec.list()).length, { timeout: 10_000 }).toBeLessThan(3);
    expect((await rec.list()).map((r) => r.id)).toContain(ids[2]);
  });
});
