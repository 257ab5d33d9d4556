/**
 * Recorder ownership with two hubs on one broker and one share volume (issue 15), real processes: one hub
 * records a device (its retained status names it), the other ignores its audio; when the recording hub is
 * SIGKILLed mid-recording the other takes the device's next audio into a new recording in the device's format,
 * and the killed hub recovers its partial file when it comes back.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Observer, observe, startGroupHub } from '../helpers/hub-group.js';
import type { HubProcess } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Recording files of `device` (all days), by name. */
function recordingFiles(shareDir: string, device: string): string[] {
  const root = join(shareDir, 'recordings', device);
  let days: string[] = [];
  try {
    days = readdirSync(root);
  } catch {
    return [];
  }
  return days.flatMap((d) => readdirSync(join(root, d))).sort();
}

describe('recorder ownership across two hubs', () => {
  let broker: RunningMosquitto;
  let shareDir: string;
  let obs: Observer;
  let mic: MqttClient;
  const all: HubProcess[] = [];

  const status = (): { state?: string; hub?: string; id?: string } =>
    JSON.parse(obs.last.get('recorder/porch/status')?.toString() || '{}');

  /** Sends `ms` of 16-bit 8 kHz mono audio in 100 ms chunks at real-time pace. */
  const speak = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      await mic.publishAsync('recorder/porch/audio', Buffer.alloc(1600, 3));
      await sleep(100); // real-time pace, as a microphone sends; waits for nothing
    }
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    shareDir = mkdtempSync(join(tmpdir(), 'tts-hub-rec-'));
    obs = await observe(broker.url, ['recorder/porch/status']);
    mic = await mqtt.connectAsync(broker.url, { clientId: 'mic-porch' });
    for (const id of ['hub_a', 'hub_b']) all.push(await startGroupHub(broker.url, id, shareDir));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(all.map((h) => h.stop(5000)));
    for (const h of all) h.cleanup();
    await mic?.endAsync();
    await obs?.close();
    await broker?.stop();
    rmSync(shareDir, { recursive: true, force: true });
  }, 60_000);

  it('one hub records a device; after it is killed the other takes the audio; the killed one recovers its part', async () => {
    await mic.publishAsync('recorder/porch/start', JSON.stringify({ rate: 8000 }), { qos: 1 });
    await speak(1500);
    await expect.poll(() => status().state, { timeout: 10_000 }).toBe('recording');
    const first = status();
    const owner = all.find((h) => h.logs().some((l) => l.msg === 'recording started')) as HubProcess;
    const other = all.find((h) => h !== owner) as HubProcess;
    expect(first.hub).toBeDefined();
    expect(owner.logs().filter((l) => l.msg === 'recording started')).toHaveLength(1);
    expect(other.logs().filter((l) => l.msg === 'recording started')).toHaveLength(0);
    expect(recordingFiles(shareDir, 'porch').filter((f) => f.endsWith('.partial.opus'))).toHaveLength(1);

    // The other hub restarts while the owner records: its start-up recovery leaves the live recording alone.
    const recording = speak(6000);
    expect(await other.stop()).toBe(0);
    const other2 = await startGroupHub(broker.url, first.hub === 'hub_a' ? 'hub_b' : 'hub_a', shareDir);
    all.push(other2);
    await recording;
    expect(other2.logs().some((l) => l.msg === 'recording of another hub left to it')).toBe(true);
    expect(other2.logs().some((l) => l.msg === 'recording recovered')).toBe(false);
    expect(status()).toMatchObject({ state: 'recording', hub: first.hub, id: first.id });

    owner.signalGroup('SIGKILL');
    await owner.exited;
    await speak(2500);
    await vi.waitFor(
      () => {
        expect(status().state).toBe('recording');
        expect(status().hub).not.toBe(first.hub);
      },
      { timeout: 15_000 },
    );
    const taken = other2.logs().find((l) => l.msg === 'recording started');
    expect(taken).toMatchObject({ device: 'porch', format: { rateHz: 8000, widthBytes: 2, channels: 1 } });
    await mic.publishAsync('recorder/porch/stop', '', { qos: 1 });
    await expect.poll(() => status().state, { timeout: 15_000 }).toBe('idle');

    // The killed hub comes back and recovers what it had recorded.
    const again = await startGroupHub(broker.url, first.hub as string, shareDir);
    all.push(again);
    await expect
      .poll(() => again.logs().map((l) => l.msg), { timeout: 30_000 })
      .toContain('recording recovered');
    const files = recordingFiles(shareDir, 'porch');
    expect(files.filter((f) => f.endsWith('.partial.opus'))).toEqual([]);
    expect(files.filter((f) => /_[0-9a-z]+\.opus$/.test(f))).toHaveLength(2);
  }, 120_000);
});
