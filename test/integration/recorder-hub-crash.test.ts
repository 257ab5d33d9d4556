/**
 * The hub process killed with SIGKILL together with its ffmpeg in mid-recording (fed over MQTT), then started
 * again on the same share: the recording comes back from its WAV sidecar with at least 95 % of the audio the hub
 * received, the status says it was recovered, and it is listed as finished.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WAV_HEADER_BYTES } from '../../src/audio/wav.js';
import type { DeviceStatus, RecordingRow } from '../../src/recorder/index.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { ffmpegChildren, sinePcm } from '../helpers/recorder.js';

const FED_S = 4;

/** Bytes of PCM in the WAV sidecars under `shareDir` (header excluded), the largest one. */
function sidecarPcmBytes(shareDir: string): number {
  const wavs = readdirSync(shareDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.wav'));
  return Math.max(0, ...wavs.map((f) => statSync(join(shareDir, f)).size - WAV_HEADER_BYTES));
}

let broker: RunningMosquitto | undefined;
let client: SayClient | undefined;
const hubs: HubProcess[] = [];

describe('recorder crash recovery in the hub', () => {
  afterAll(async () => {
    await client?.close();
    for (const h of hubs) await h.stop();
    for (const h of hubs) h.cleanup();
    await broker?.stop();
  });

  it('recovers at least 95 % of the received audio after SIGKILL of the hub and its ffmpeg', async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['recorder/#'] });
    const options = { mqtt: { url: broker.url, client_id: 'hub-crash-test' } };
    const first = await startHub(options);
    hubs.push(first);
    const pcm = await sinePcm(FED_S);
    await client.client.publishAsync('recorder/crashdev/start', '{"id":"crash1"}', { qos: 1 });
    const t0 = performance.now();
    for (let i = 0; i * 3200 < pcm.length; i++) {
      await client.client.publishAsync('recorder/crashdev/audio', pcm.subarray(i * 3200, (i + 1) * 3200), {
        qos: 1,
      });
      // Real-time pace, as a microphone sends: paces the input, waits for nothing.
      const wait = t0 + (i + 1) * 100 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    // The hub has taken every chunk once a status reports their whole duration.
    await client.next('recorder/crashdev/status', (p) => {
      const s = JSON.parse(p.toString()) as DeviceStatus;
      return s.in_progress && s.duration_ms >= FED_S * 1000;
    });
    // The sidecar's write of the last chunk.
    await expect
      .poll(() => sidecarPcmBytes(first.shareDir), { timeout: 5000 })
      .toBeGreaterThanOrEqual(pcm.length);
    const encoders = await ffmpegChildren(first.child.pid as number);
    expect(encoders).toHaveLength(1);
    first.child.kill('SIGKILL');
    for (const pid of encoders) process.kill(pid, 'SIGKILL');
    await first.stop();

    const recovered = client.next('recorder/crashdev/status', (p) => {
      const s = JSON.parse(p.toString()) as DeviceStatus;
      return s.last?.id === 'crash1' && s.last.recovered === true;
    });
    const second = await startHub(options, { shareDir: first.shareDir });
    hubs.push(second);
    const status = JSON.parse((await recovered).toString()) as DeviceStatus;
    expect(status).toMatchObject({
      state: 'idle',
      last: { id: 'crash1', recovered: true, from_sidecar: true },
    });
    expect(status.last?.duration_ms).toBeGreaterThanOrEqual(0.95 * FED_S * 1000);
    const probe = await ffprobe(join(second.shareDir, status.last?.file ?? 'missing'));
    expect(probe.codec).toBe('opus');
    expect(probe.durationMs).toBeGreaterThanOrEqual(0.95 * FED_S * 1000);
    const list = (await (await fetch(`${second.baseUrl}/api/recordings`)).json()) as {
      recordings: RecordingRow[];
    };
    expect(list.recordings.find((r) => r.id === 'crash1')).toMatchObject({
      device: 'crashdev',
      in_progress: false,
    });
    const audio = await fetch(`${second.baseUrl}/api/recordings/crash1/audio`);
    expect(audio.status).toBe(200);
    expect(Number(audio.headers.get('content-length'))).toBe(status.last?.bytes);
    await audio.arrayBuffer();
  }, 90_000);
});
