/**
 * Recorder bounds on the real hub process with a real mosquitto and real ffmpeg. Before issue 10: 200 recorder
 * devices started and never stopped ran 200 ffmpeg processes, left 264 empty recordings, and grew discovery to
 * 510 entities in one 174 KB retained message; any rate, channel count and length was taken.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleMax } from '../helpers/attack.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { ffmpegChildren } from '../helpers/recorder.js';

/** Every file under `dir` (recursively); empty when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Retained and live messages by topic, from a client subscribed to the recorder and discovery topics. */
async function watch(url: string): Promise<{ client: MqttClient; last: Map<string, string> }> {
  const client = await mqtt.connectAsync(url, { clientId: `watch-${Math.random().toString(16).slice(2)}` });
  const last = new Map<string, string>();
  client.on('message', (topic, payload) => last.set(topic, payload.toString()));
  await client.subscribeAsync(['recorder/#', 'homeassistant/device/+/config'], { qos: 1 });
  return { client, last };
}

const statusOf = (last: Map<string, string>, device: string) =>
  JSON.parse(last.get(`recorder/${device}/status`) ?? 'null') as {
    state: string;
    error?: { code: string; message: string };
    last?: { file: string; duration_ms: number };
  } | null;

describe('recorder bounds', () => {
  let broker: RunningMosquitto;
  let hub: HubProcess;
  let pub: MqttClient;
  let seen: Awaited<ReturnType<typeof watch>>;
  const pid = (): number => hub.child.pid as number;
  const recordingsDir = (): string => join(hub.shareDir, 'recordings');
  const entities = (): string[] =>
    Object.keys(
      (JSON.parse(seen.last.get('homeassistant/device/tts_hub/config') ?? '{}') as { cmps?: object }).cmps ??
        {},
    ).filter((c) => c.startsWith('rec_') && c.endsWith('_state'));

  beforeAll(async () => {
    broker = await startMosquitto();
    hub = await startHub({
      mqtt: { url: broker.url },
      recorder: {
        max_recordings: 4,
        idle_timeout_s: 1,
        max_duration_s: 3,
        max_recording_mb: 1,
        max_discovery_devices: 3,
      },
    });
    pub = await mqtt.connectAsync(broker.url, { clientId: 'attacker' });
    seen = await watch(broker.url);
  }, 60_000);
  afterAll(async () => {
    await pub?.endAsync();
    await seen?.client.endAsync();
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
  });

  it('200 devices that start and never send audio: at most 4 at once, no ffmpeg, nothing kept, no entities', async () => {
    const ffmpeg = sampleMax(async () => (await ffmpegChildren(pid())).length, 20);
    const idleStatuses = (): Array<[string, string]> =>
      [...seen.last.entries()].filter(([t]) => /^recorder\/idle\d+\/status$/.test(t));
    const recordingNow = sampleMax(
      () => idleStatuses().filter(([, p]) => JSON.parse(p).state === 'recording').length,
      5,
    );
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => pub.publishAsync(`recorder/idle${i}/start`, '', { qos: 1 })),
    );
    await expect
      .poll(() => idleStatuses().length > 0, { timeout: 15_000, message: 'the first recordings' })
      .toBe(true);
    // Each ends after the 1 s idle timeout (a slot frees for a later start); then all are idle.
    await expect
      .poll(() => idleStatuses().every(([, p]) => JSON.parse(p).state === 'idle'), {
        timeout: 15_000,
        message: 'every recording ended',
      })
      .toBe(true);
    expect(await recordingNow.stop()).toBeLessThanOrEqual(4);
    const started = hub.logs().filter((l) => l.msg === 'recording started').length;
    expect(started).toBeLessThan(200);
    // Refused devices get no retained status (no per-name state on the broker).
    expect(idleStatuses()).toHaveLength(started);
    expect(await ffmpeg.stop()).toBe(0);
    expect(await filesUnder(recordingsDir())).toEqual([]);
    expect(entities()).toEqual([]);
    const refusals = hub.logs().filter((l) => l.msg === 'recording refused' && l.code === 'LIMIT_REACHED');
    expect(refusals.length).toBe(200 - started);
    expect(String(refusals[0]?.err)).toMatch(/recorder\.max_recordings/);
  });

  it('200 devices that send audio: at most 4 recordings and 4 ffmpeg at once, entities for 3 of them', async () => {
    const ffmpeg = sampleMax(async () => (await ffmpegChildren(pid())).length, 10);
    const halfSecond = Buffer.alloc(16_000, 0);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        pub.publishAsync(`recorder/talk${i}/audio`, halfSecond, { qos: 1 }),
      ),
    );
    const finished = async () =>
      (await filesUnder(recordingsDir())).filter((f) => /_[0-9a-f]+\.opus$/.test(f));
    await expect
      .poll(async () => (await finished()).length >= 4, {
        timeout: 15_000,
        message: 'four finished recordings',
      })
      .toBe(true);
    await expect
      .poll(async () => (await ffmpegChildren(pid())).length === 0, {
        timeout: 15_000,
        message: 'the encoders to end',
      })
      .toBe(true);
    expect(await ffmpeg.stop()).toBeLessThanOrEqual(4);
    const kept = (await finished()).length;
    expect(
      hub.logs().filter((l) => l.msg === 'recording started' && /^talk/.test(String(l.device))),
    ).toHaveLength(kept);
    await expect
      .poll(() => entities().length === 3, {
        timeout: 15_000,
        message: 'three recorder devices in discovery',
      })
      .toBe(true);
    await new Promise((r) => setTimeout(r, 500)); // proves a negative: no fourth device shows up later
    expect(entities()).toHaveLength(3);
  });

  it('a recording that reaches recorder.max_duration_s is ended and kept; more audio waits for a start', async () => {
    await pub.publishAsync('recorder/long/start', '{}', { qos: 1 });
    await pub.publishAsync('recorder/long/audio', Buffer.alloc(5 * 32_000, 0), { qos: 1 });
    await expect
      .poll(() => statusOf(seen.last, 'long')?.error?.code === 'LIMIT_REACHED', {
        timeout: 15_000,
        message: 'the limit in the status',
      })
      .toBe(true);
    const status = statusOf(seen.last, 'long');
    expect(status?.error?.message).toMatch(/recorder\.max_duration_s/);
    expect(Math.abs((status?.last?.duration_ms ?? 0) - 3000)).toBeLessThanOrEqual(20);
    const file = join(hub.shareDir, status?.last?.file as string);
    expect(Math.abs((await ffprobe(file)).durationMs - 3000)).toBeLessThanOrEqual(150);
    // Audio without a start does not begin another recording.
    await pub.publishAsync('recorder/long/audio', Buffer.alloc(32_000, 0), { qos: 1 });
    await new Promise((r) => setTimeout(r, 500)); // proves a negative: no recording begins
    expect(statusOf(seen.last, 'long')?.state).not.toBe('recording');
    await pub.publishAsync('recorder/long/start', '{}', { qos: 1 });
    await expect
      .poll(() => statusOf(seen.last, 'long')?.state === 'recording', {
        timeout: 15_000,
        message: 'a new recording after start',
      })
      .toBe(true);
    await pub.publishAsync('recorder/long/stop', '', { qos: 1 });
  });

  it('a recording that reaches recorder.max_recording_mb is ended and kept', async () => {
    await pub.publishAsync('recorder/big/start', JSON.stringify({ rate: 48_000, channels: 2, width: 4 }), {
      qos: 1,
    });
    // Two messages under limits.mqtt_max_packet_kb (1 MiB), together over the recording's 1 MiB.
    for (let i = 0; i < 2; i++)
      await pub.publishAsync('recorder/big/audio', Buffer.alloc(768 * 1024, 0), { qos: 1 });
    await expect
      .poll(() => statusOf(seen.last, 'big')?.error?.code === 'LIMIT_REACHED', {
        timeout: 15_000,
        message: 'the limit in the status',
      })
      .toBe(true);
    const status = statusOf(seen.last, 'big');
    expect(status?.error?.message).toMatch(/recorder\.max_recording_mb/);
    // 1 MiB at 48 kHz, 2 channels, 4 bytes: 2.73 s.
    expect(Math.abs((status?.last?.duration_ms ?? 0) - 2731)).toBeLessThanOrEqual(20);
  });

  it('refuses formats over 48 kHz or 2 channels', async () => {
    for (const [device, start] of [
      ['hifi', { rate: 96_000 }],
      ['surround', { channels: 6 }],
    ] as const) {
      await pub.publishAsync(`recorder/${device}/start`, JSON.stringify(start), { qos: 1 });
      await expect
        .poll(() => statusOf(seen.last, device)?.state === 'error', {
          timeout: 15_000,
          message: `${device} refused`,
        })
        .toBe(true);
      expect(statusOf(seen.last, device)?.error?.code).toBe('BAD_PAYLOAD');
      expect(statusOf(seen.last, device)?.error?.message).toMatch(/48000|\b2\b/);
    }
  });
});

describe('recorder device allowlist', () => {
  let broker: RunningMosquitto;
  let hub: HubProcess;
  let pub: MqttClient;
  let seen: Awaited<ReturnType<typeof watch>>;

  beforeAll(async () => {
    broker = await startMosquitto();
    hub = await startHub({
      mqtt: { url: broker.url },
      recorder: { devices: ['kitchen'], idle_timeout_s: 1 },
    });
    pub = await mqtt.connectAsync(broker.url, { clientId: 'allowlist' });
    seen = await watch(broker.url);
  }, 60_000);
  afterAll(async () => {
    await pub?.endAsync();
    await seen?.client.endAsync();
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
  });

  it('records only the devices in recorder.devices; others leave no file and no status', async () => {
    for (const device of ['garage', 'kitchen']) {
      await pub.publishAsync(`recorder/${device}/start`, '', { qos: 1 });
      await pub.publishAsync(`recorder/${device}/audio`, Buffer.alloc(16_000, 0), { qos: 1 });
      await pub.publishAsync(`recorder/${device}/stop`, '', { qos: 1 });
    }
    await expect
      .poll(() => statusOf(seen.last, 'kitchen')?.last !== undefined, {
        timeout: 15_000,
        message: 'the kitchen recording',
      })
      .toBe(true);
    expect(seen.last.has('recorder/garage/status')).toBe(false);
    const files = await filesUnder(join(hub.shareDir, 'recordings'));
    expect(files.some((f) => f.includes('kitchen'))).toBe(true);
    expect(files.some((f) => f.includes('garage'))).toBe(false);
    await expect
      .poll(
        () => hub.logs().some((l) => l.code === 'INVALID_DEVICE' && /recorder\.devices/.test(String(l.err))),
        { timeout: 15_000, message: 'the refusal in the log' },
      )
      .toBe(true);
  });
});
