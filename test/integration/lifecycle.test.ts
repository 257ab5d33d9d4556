/**
 * The hub as a process: availability and the will, SIGTERM, requests published while the hub is down (QoS 1,
 * persistent session), invalid configuration, and the embedded broker when none answers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';

describe('hub lifecycle', () => {
  let broker: RunningMosquitto;
  let client: SayClient;

  beforeAll(async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['tts/availability', 'tts/status'] });
  });
  afterAll(async () => {
    await client?.close();
    await broker?.stop();
  });

  it('publishes online, then offline on SIGTERM, and exits 0', async () => {
    const online = client.next('tts/availability', (p) => p.toString() === 'online');
    const statusMessage = client.next('tts/status');
    const hub = await startHub({ mqtt: { url: broker.url, client_id: 'life-1' } });
    await online;
    const status = JSON.parse((await statusMessage).toString()) as {
      engines: Array<{ name: string; healthy: boolean }>;
    };
    expect(status.engines).toEqual([expect.objectContaining({ name: 'espeak', healthy: true })]);
    const offline = client.next('tts/availability', (p) => p.toString() === 'offline');
    expect(await hub.stop()).toBe(0);
    await offline;
    hub.cleanup();
  });

  it('delivers a say published while the hub was down, after it restarts', async () => {
    const first = await startHub({ mqtt: { url: broker.url, client_id: 'life-2' } });
    expect(await first.stop()).toBe(0);
    const answer = client.next(
      'tts/result',
      (p) => (JSON.parse(p.toString()) as { id: string }).id === 'while-down',
    );
    await client.client.publishAsync('tts/say', JSON.stringify({ text: 'Welcome home!', id: 'while-down' }), {
      qos: 1,
    });
    const second = await startHub(
      { mqtt: { url: broker.url, client_id: 'life-2' } },
      { shareDir: first.shareDir },
    );
    expect(JSON.parse((await answer).toString())).toMatchObject({ id: 'while-down', ok: true });
    expect(await second.stop()).toBe(0);
    first.cleanup();
    second.cleanup();
  });

  it('lists every configuration problem and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-bad-config-'));
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      'http:\n  port: "eighty"\ncache:\n  max_entries: -1\nengines:\n  - name: x\n    type: banana\n',
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', path], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('http.port');
    expect(run.stderr).toContain('cache.max_entries');
    expect(run.stderr).toContain('engines.0.type');
  });

  it('starts an embedded broker when none answers and serves says through it', async () => {
    // Port 1883 may be taken by a local broker on this machine; then the "local" branch is what runs.
    const hub = await startHub({}, { env: { TTS_HUB_MQTT_URL: '' } });
    const started = hub.logs().find((l) => l.msg === 'hub started') as { source: string; mqtt: string };
    expect(['local', 'embedded']).toContain(started.source);
    const c = await mqtt.connectAsync(started.mqtt);
    const got = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync('tts/result', { qos: 1 });
    await c.publishAsync('tts/say', 'Embedded hello.', { qos: 1 });
    expect(JSON.parse(await got)).toMatchObject({ ok: true });
    await c.endAsync();
    expect(await hub.stop()).toBe(0);
    hub.cleanup();
  });
});
