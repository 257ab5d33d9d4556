/**
 * A hub killed with SIGKILL together with its ffmpeg in mid-recording: a new recorder on the same share recovers
 * the audio received so far from the WAV sidecar (DESIGN quality bar: ≥ 95 %).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createRecorder, type Recorder } from '../../src/recorder/recorder.js';
import type { DeviceStatus } from '../../src/recorder/status.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { ffmpegChildren, recorderOptions, sinePcm } from '../helpers/recorder.js';

const BYTES_PER_S = 32_000;
const SRC = resolve(import.meta.dirname, '../../src');

/** The child: a recorder that records device 'crashdev' from its stdin and says "ready" once recording. */
const CHILD = `
import { createRecorder } from '${SRC}/recorder/recorder.ts';
import { silentLog } from '${SRC}/shared/log.ts';
const rec = createRecorder({ shareDir: process.env.SHARE_DIR, bitrateKbps: 24, keepWav: false, retentionDays: 0,
  maxTotalMb: 0, publicUrl: (id) => id, log: silentLog(), onStatus: () => {} });
await rec.start();
const session = await rec.open('crashdev', undefined, { id: 'crash1', source: 'mqtt' });
process.stdin.on('data', (pcm) => session.write(pcm));
process.stdout.write('ready\\n');
`;

/** Size of the one WAV sidecar under `shareDir`'s recordings, 0 while there is none. */
async function sidecarBytes(dir: string): Promise<number> {
  const files = await readdir(join(dir, 'recordings'), { recursive: true });
  const wav = files.find((f) => f.endsWith('.wav'));
  return wav === undefined ? 0 : (await stat(join(dir, 'recordings', wav))).size;
}

let shareDir: string;
let recorder: Recorder | undefined;
let child: ChildProcessByStdio<Writable, Readable, null> | undefined;

describe('recorder crash recovery', () => {
  afterEach(async () => {
    child?.kill('SIGKILL');
    await recorder?.stop();
    await rm(shareDir, { recursive: true, force: true });
  });

  it('recovers at least 95 % of the audio after SIGKILL of the hub and its ffmpeg', async () => {
    shareDir = await mkdtemp(join(tmpdir(), 'rec-crash-'));
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      env: { ...process.env, SHARE_DIR: shareDir },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child = proc;
    const [line] = (await once(proc.stdout, 'data')) as [Buffer];
    expect(line.toString()).toContain('ready');
    const pcm = await sinePcm(4);
    for (let at = 0; at < pcm.length; at += BYTES_PER_S / 10) {
      proc.stdin.write(pcm.subarray(at, at + BYTES_PER_S / 10));
      await sleep(100); // real-time pace, as a microphone sends: paces the input, waits for nothing
    }
    // The last chunk reaches the sidecar (header + every PCM byte on disk).
    await expect
      .poll(() => sidecarBytes(shareDir), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(pcm.length + 44);
    const encoders = await ffmpegChildren(proc.pid as number);
    expect(encoders).toHaveLength(1);
    proc.kill('SIGKILL');
    for (const pid of encoders) process.kill(pid, 'SIGKILL');
    await once(proc, 'exit');

    const statuses: DeviceStatus[] = [];
    recorder = createRecorder(
      recorderOptions(shareDir, {
        publicUrl: (id) => `/api/recordings/${id}/audio`,
        onStatus: (_device, payload) => statuses.push(payload),
      }),
    );
    const outcome = await recorder.start();
    expect(outcome.failed).toEqual([]);
    expect(outcome.recovered.map((r) => [r.info.id, r.fromSidecar])).toEqual([['crash1', true]]);
    const [row] = await recorder.list();
    expect(row).toMatchObject({ id: 'crash1', device: 'crashdev', in_progress: false });
    const probe = await ffprobe(join(shareDir, row?.file ?? ''));
    expect(probe.codec).toBe('opus');
    expect(probe.durationMs).toBeGreaterThanOrEqual(0.95 * 4000);
    expect(statuses.at(-1)).toMatchObject({ device: 'crashdev', state: 'idle', last: { recovered: true } });
    const day = (await readdir(join(shareDir, 'recordings', 'crashdev')))[0] ?? '';
    const left = await readdir(join(shareDir, 'recordings', 'crashdev', day));
    expect(left.filter((n) => !n.endsWith('_crash1.opus'))).toEqual([]);
  });
});
