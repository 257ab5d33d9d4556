/**
 * The recorder wired into the running hub (a real child process), fed the way devices feed it: MQTT
 * `recorder/<device>/start|audio|stop` with real espeak-ng speech, Hermes `audioFrame` WAV frames, and a Wyoming
 * microphone (test/servers/wyoming_mic.py on the real `wyoming` package), against a real mosquitto.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIC_FORMAT } from '../../src/audio/format.js';
import { encodeWav } from '../../src/audio/wav.js';
import type { DeviceStatus, RecorderTotals, RecordingRow } from '../../src/recorder/index.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { repeatedSpeechPcm } from '../helpers/recorder.js';
import { speechPcmWhole } from '../servers/speech.js';

const run = promisify(execFile);
const BYTES_PER_S = 32_000;
const CHUNK_BYTES = BYTES_PER_S / 10;
const VENV = process.env.TTS_HUB_VENV ?? resolve(import.meta.dirname, '../../.venv');
const MIC_SERVER = resolve(import.meta.dirname, '../servers/wyoming_mic.py');

/** Exactly `seconds` of 16 kHz speech (the sentence repeated). */
const speech = (seconds: number): Promise<Buffer> =>
  repeatedSpeechPcm('The hub records what the satellite hears, live, as Opus.', seconds);

/** Decodes an Ogg Opus buffer (possibly cut mid-page) and returns the decoded duration in ms. */
async function decodedMs(ogg: Buffer): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'rec-decode-'));
  try {
    await writeFile(join(dir, 'part.opus'), ogg);
    const { stdout } = await run(
      'ffmpeg',
      ['-v', 'quiet', '-i', join(dir, 'part.opus'), '-ar', '16000', '-ac', '1', '-f', 's16le', '-'],
      { encoding: 'buffer', maxBuffer: 1 << 26 },
    ).catch((err: { stdout?: Buffer }) => ({ stdout: err.stdout ?? Buffer.alloc(0) }));
    return (stdout.length / BYTES_PER_S) * 1000;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every file under `dir`, recursively. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Reads the live audio URL for about `ms`, then hangs up; returns the bytes received. */
async function readLive(url: string, ms: number): Promise<{ status: number; type: string; bytes: Buffer }> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  const parts: Buffer[] = [];
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    for await (const part of res.body as AsyncIterable<Uint8Array>) parts.push(Buffer.from(part));
  } catch {
    // aborted on purpose: the recording is still going on
  } finally {
    clearTimeout(timer);
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', bytes: Buffer.concat(parts) };
}

const statusesOf = (client: SayClient, device: string): DeviceStatus[] =>
  client.received
    .filter((m) => m.topic === `recorder/${device}/status`)
    .map((m) => JSON.parse(m.payload.toString()) as DeviceStatus);

/** The first message on `topic` matching `match`, already received or still to come. */
async function seen(c: SayClient, topic: string, match: (p: Buffer) => boolean): Promise<Buffer> {
  const old = c.received.find((m) => m.topic === topic && match(m.payload));
  return old ? old.payload : c.next(topic, match);
}

const isLast = (id: string | undefined) => (p: Buffer) => {
  const s = JSON.parse(p.toString()) as DeviceStatus;
  return s.state !== 'recording' && s.last !== undefined && (id === undefined || s.last.id === id);
};

/** Starts the Wyoming mic stand-in; its program plays `wavPath` in real time as 16 kHz s16le. */
async function startMic(port: number, wavPath: string): Promise<ChildProcess> {
  const program = `ffmpeg -v error -re -i ${wavPath} -ar 16000 -ac 1 -f s16le -`;
  const args = [MIC_SERVER, '--program', program, '--rate', '16000', '--width', '2', '--channels', '1'];
  const child = spawn(join(VENV, 'bin/python'), [...args, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  expect(line.toString()).toContain('Ready');
  return child;
}

let broker: RunningMosquitto;
let hub: HubProcess;
let client: SayClient;
let mic: ChildProcess | undefined;
let micPort: number;
let work: string;
let micSpeechMs: number;

describe('recorder in the running hub', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rec-hub-'));
    const pcm = await speechPcmWhole('Hello from the kitchen microphone.', 16000);
    micSpeechMs = (pcm.length / BYTES_PER_S) * 1000;
    await writeFile(join(work, 'mic.wav'), encodeWav(MIC_FORMAT, pcm));
    micPort = await freePort();
    mic = await startMic(micPort, join(work, 'mic.wav'));
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['recorder/#'] });
    hub = await startHub({
      mqtt: { url: broker.url, client_id: 'hub-recorder-test' },
      topics: { hermes: true },
      recorder: { idle_timeout_s: 1 },
      microphones: [{ name: 'micro', url: `tcp://127.0.0.1:${micPort}` }],
    });
  }, 60_000);

  afterAll(async () => {
    mic?.kill('SIGKILL');
    await client?.close();
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('records 6 s fed at real-time pace: live retained status, partial audio mid-way, a finished 6 s .opus', async () => {
    const pcm = await speech(6);
    // A finished recording (the microphone's first) to list after the one in progress.
    await seen(client, 'recorder/micro/status', isLast(undefined));
    await client.client.publishAsync('recorder/kitchen/start', JSON.stringify({ id: 'rec6s' }), { qos: 1 });
    // Half the audio (3 s) fed: the feed says so, the checks mid-way start then.
    let halfFed = (): void => {};
    const half = new Promise<void>((r) => {
      halfFed = r;
    });
    const midway = async () => {
      await half;
      const list = (await (await fetch(`${hub.baseUrl}/api/recordings`)).json()) as {
        recordings: RecordingRow[];
      };
      // In-progress rows first (the microphone may still be recording too), then finished ones.
      const flags = list.recordings.map((r) => r.in_progress);
      expect(flags).toEqual([...flags].sort((a, b) => Number(b) - Number(a)));
      expect(flags).toContain(false);
      const first = list.recordings.find((r) => r.id === 'rec6s');
      expect(first).toMatchObject({ id: 'rec6s', device: 'kitchen', in_progress: true });
      expect(first?.url).toBe(`${hub.baseUrl}/api/recordings/rec6s/audio`);
      const refused = await fetch(`${hub.baseUrl}/api/recordings/rec6s`, { method: 'DELETE' });
      expect(refused.status).toBe(409);
      const live = await readLive(first?.url ?? '', 700);
      expect(live).toMatchObject({ status: 200, type: 'audio/ogg' });
      expect(await decodedMs(live.bytes)).toBeGreaterThan(1500);
      const late = await connectSayClient(broker.url, { extraTopics: ['recorder/kitchen/status'] });
      const retained = JSON.parse((await late.next('recorder/kitchen/status')).toString()) as DeviceStatus;
      await late.close();
      expect(retained).toMatchObject({
        device: 'kitchen',
        state: 'recording',
        in_progress: true,
        id: 'rec6s',
      });
    };
    const feed = async () => {
      const t0 = performance.now();
      for (let i = 0; i * CHUNK_BYTES < pcm.length; i++) {
        const chunk = pcm.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
        await client.client.publishAsync('recorder/kitchen/audio', chunk, { qos: 1 });
        if ((i + 1) * CHUNK_BYTES >= pcm.length / 2) halfFed();
        // Real-time pace, as a microphone sends: paces the input, waits for nothing.
        const wait = t0 + (i + 1) * 100 - performance.now();
        if (wait > 0) await sleep(wait);
      }
    };
    await Promise.all([feed(), midway()]);
    const ended = client.next('recorder/kitchen/status', isLast('rec6s'));
    await client.client.publishAsync('recorder/kitchen/stop', '', { qos: 1 });
    const final = JSON.parse((await ended).toString()) as DeviceStatus;

    const live = statusesOf(client, 'kitchen').filter((s) => s.in_progress && s.id === 'rec6s');
    expect(live.length).toBeGreaterThanOrEqual(3);
    const bytes = live.map((s) => s.bytes);
    expect(bytes.slice(1).every((b, i) => b >= (bytes[i] ?? 0))).toBe(true);
    expect(bytes.at(-1)).toBeGreaterThan(bytes[0] ?? 0);
    expect(final).toMatchObject({ state: 'idle', in_progress: false, last: { id: 'rec6s' } });
    const file = join(hub.shareDir, final.last?.file ?? 'missing');
    expect(file).toMatch(/_rec6s\.opus$/);
    const probe = await ffprobe(file);
    expect(probe.codec).toBe('opus');
    expect(Math.abs(probe.durationMs - 6000)).toBeLessThanOrEqual(400);
    expect((await walk(join(hub.shareDir, 'recordings'))).filter((p) => p.includes('.partial'))).toEqual([]);

    const totals = client.received
      .filter((m) => m.topic === 'recorder/status')
      .map((m) => JSON.parse(m.payload.toString()) as RecorderTotals);
    expect(totals.at(-1)?.recordings).toBeGreaterThanOrEqual(1);
    expect(totals.at(-1)?.total_bytes).toBeGreaterThanOrEqual(final.last?.bytes ?? 1);
    expect(totals.at(-1)?.disk_free_bytes).toBeGreaterThan(0);

    const audio = await fetch(`${hub.baseUrl}/api/recordings/rec6s/audio`, {
      headers: { range: 'bytes=0-99' },
    });
    expect(audio.status).toBe(206);
    expect(
      Buffer.from(await audio.arrayBuffer())
        .subarray(0, 4)
        .toString(),
    ).toBe('OggS');
    expect((await fetch(`${hub.baseUrl}/api/recordings/nope/audio`)).status).toBe(404);
    expect((await fetch(`${hub.baseUrl}/api/recordings/rec6s`, { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(file)).toBe(false);
  }, 60_000);

  it('refuses bad device names and payloads without crashing, logging each name once', async () => {
    for (let i = 0; i < 3; i++) {
      await client.client.publishAsync('recorder/bad.name/audio', Buffer.alloc(3200), { qos: 1 });
    }
    await client.client.publishAsync(`recorder/${'x'.repeat(65)}/start`, '{}', { qos: 1 });
    const error = client.next(
      'recorder/dev2/status',
      (p) => (JSON.parse(p.toString()) as DeviceStatus).state === 'error',
    );
    await client.client.publishAsync('recorder/dev2/start', '{"rate":"fast"}', { qos: 1 });
    expect(JSON.parse((await error).toString())).toMatchObject({
      device: 'dev2',
      state: 'error',
      error: { code: 'BAD_PAYLOAD' },
    });
    await client.client.publishAsync('recorder/dev2/start', 'not json', { qos: 1 });
    expect((await fetch(`${hub.baseUrl}/api/health`)).status).toBe(200);
    expect(hub.child.exitCode).toBeNull();
    expect(client.received.some((m) => m.topic.startsWith('recorder/bad.name/'))).toBe(true); // our own sends
    expect(client.received.some((m) => m.topic === 'recorder/bad.name/status')).toBe(false);
    const refusals = hub.logs().filter((l) => String(l.topic ?? '').includes('bad.name'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ code: 'INVALID_DEVICE' });
  }, 30_000);

  it('records audio sent without a start as 16 kHz 16-bit mono, ended by the idle timeout', async () => {
    const pcm = await speech(2);
    const ended = client.next('recorder/nostart/status', isLast(undefined));
    for (let at = 0; at < pcm.length; at += CHUNK_BYTES) {
      await client.client.publishAsync('recorder/nostart/audio', pcm.subarray(at, at + CHUNK_BYTES), {
        qos: 1,
      });
    }
    // No stop is sent: only the idle timeout (1 s here) can end it.
    const final = JSON.parse((await ended).toString()) as DeviceStatus;
    expect(final).toMatchObject({ state: 'idle', in_progress: false });
    const probe = await ffprobe(join(hub.shareDir, final.last?.file ?? 'missing'));
    expect(probe.codec).toBe('opus');
    // 64 000 bytes last 2 s only when read as 16 kHz, 2 bytes, 1 channel.
    expect(Math.abs(probe.durationMs - 2000)).toBeLessThanOrEqual(300);
    expect(statusesOf(client, 'nostart').some((s) => s.in_progress && s.source === 'mqtt')).toBe(true);
  }, 30_000);

  it('records Hermes audioFrame WAV frames per site, ended by the idle timeout', async () => {
    const pcm = await speech(2);
    const frameBytes = 1024 * 2;
    const ended = client.next('recorder/sat1/status', isLast(undefined));
    for (let at = 0; at < pcm.length; at += frameBytes) {
      const wav = encodeWav(MIC_FORMAT, pcm.subarray(at, at + frameBytes));
      await client.client.publishAsync('hermes/audioServer/sat1/audioFrame', wav, { qos: 0 });
      await sleep(32); // paces the frames like a satellite (faster than real time); waits for nothing
    }
    const final = JSON.parse((await ended).toString()) as DeviceStatus;
    const probe = await ffprobe(join(hub.shareDir, final.last?.file ?? 'missing'));
    expect(Math.abs(probe.durationMs - 2000)).toBeLessThanOrEqual(300);
    expect(statusesOf(client, 'sat1').some((s) => s.source === 'hermes')).toBe(true);
  }, 30_000);

  it('records a Wyoming microphone, and again after the service comes back', async () => {
    const first = JSON.parse(
      (await seen(client, 'recorder/micro/status', isLast(undefined))).toString(),
    ) as DeviceStatus;
    const probe = await ffprobe(join(hub.shareDir, first.last?.file ?? 'missing'));
    expect(Math.abs(probe.durationMs - micSpeechMs)).toBeLessThanOrEqual(400);
    expect(statusesOf(client, 'micro').some((s) => s.source === 'wyoming')).toBe(true);

    const micDown = () =>
      hub
        .logs()
        .filter((l) => l.msg === 'microphone closed the connection' || l.msg === 'microphone unavailable')
        .length;
    const downBefore = micDown();
    mic?.kill('SIGKILL');
    const second = client.next('recorder/micro/status', (p) => {
      const s = JSON.parse(p.toString()) as DeviceStatus;
      return isLast(undefined)(p) && s.last?.id !== first.last?.id;
    });
    // The hub sees the service go away before it comes back.
    await expect.poll(micDown, { timeout: 10_000 }).toBeGreaterThan(downBefore);
    mic = await startMic(micPort, join(work, 'mic.wav'));
    const again = JSON.parse((await second).toString()) as DeviceStatus;
    const probe2 = await ffprobe(join(hub.shareDir, again.last?.file ?? 'missing'));
    expect(Math.abs(probe2.durationMs - micSpeechMs)).toBeLessThanOrEqual(400);
  }, 60_000);
});

describe('recorder at hub shutdown', () => {
  it('finalizes a recording in progress on SIGTERM and publishes its final status before going offline', async () => {
    const broker2 = await startMosquitto();
    const watcher = await connectSayClient(broker2.url, { extraTopics: ['recorder/#', 'tts/availability'] });
    const h = await startHub({ mqtt: { url: broker2.url, client_id: 'hub-term-test' } });
    try {
      const pcm = await speech(1);
      await watcher.client.publishAsync('recorder/term/start', '{"id":"term1"}', { qos: 1 });
      for (let at = 0; at < pcm.length; at += CHUNK_BYTES) {
        await watcher.client.publishAsync('recorder/term/audio', pcm.subarray(at, at + CHUNK_BYTES), {
          qos: 1,
        });
      }
      await seen(
        watcher,
        'recorder/term/status',
        (p) => (JSON.parse(p.toString()) as DeviceStatus).duration_ms >= 1000,
      );
      const offline = watcher.next('tts/availability', (p) => p.toString() === 'offline');
      expect(await h.stop()).toBe(0);
      await offline;
      const final = statusesOf(watcher, 'term').at(-1);
      expect(final).toMatchObject({ state: 'idle', last: { id: 'term1' } });
      const probe = await ffprobe(join(h.shareDir, final?.last?.file ?? 'missing'));
      expect(Math.abs(probe.durationMs - 1000)).toBeLessThanOrEqual(200);
    } finally {
      await watcher.close();
      await h.stop();
      h.cleanup();
      await broker2.stop();
    }
  }, 60_000);
});
