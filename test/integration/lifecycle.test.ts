/**
 * The hub as a process: availability and the will, SIGTERM, requests published while the hub is down (QoS 1,
 * persistent session), invalid configuration, and the embedded broker when none answers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';

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

  it('on SIGTERM finishes a say already in flight, then exits 0', async () => {
    const hub = await startHub({ log_level: 'debug', mqtt: { url: broker.url, client_id: 'life-3' } });
    const text =
      'Good morning. It is 7:15 and the outside temperature is 4.5 degrees. Rain is expected later.';
    const answer = client.next(
      'tts/result',
      (p) => (JSON.parse(p.toString()) as { id: string }).id === 'in-flight',
    );
    await client.client.publishAsync('tts/say', JSON.stringify({ text, id: 'in-flight' }), { qos: 1 });
    // SIGTERM as soon as the hub has taken the request, while it is being synthesized.
    await expect
      .poll(() => hub.logs().some((l) => l.msg === 'say received' && l.id === 'in-flight'), {
        timeout: 30_000,
        interval: 5,
      })
      .toBe(true);
    expect(hub.logs().some((l) => l.msg === 'said' && l.id === 'in-flight')).toBe(false);
    const code = hub.stop();
    expect(JSON.parse((await answer).toString())).toMatchObject({ id: 'in-flight', ok: true });
    expect(await code).toBe(0);
    hub.cleanup();
  });

  it('on SIGTERM cancels a say stuck on a hung engine within the grace time without answering SHUTTING_DOWN, and the next start answers it', async () => {
    const port = await freePort();
    let synthesizing = false; // the engine has the request (a describe probe does not count)
    const hanging: Server = createServer((socket) => {
      socket.on('data', (d) => {
        if (d.includes('synthesize')) synthesizing = true;
      });
    }); // accepts, reads, never answers
    await new Promise<void>((r) => hanging.listen(port, '127.0.0.1', r));
    try {
      const hub = await startHub({
        mqtt: { url: broker.url, client_id: 'life-4' },
        engines: [{ name: 'stuck', type: 'wyoming', url: `tcp://127.0.0.1:${port}`, timeout_s: 120 }],
      });
      const answer = client.next(
        'tts/result',
        (p) => (JSON.parse(p.toString()) as { id: string }).id === 'stuck-1',
        40_000,
      );
      await client.client.publishAsync(
        'tts/say',
        JSON.stringify({ text: 'Hello?', id: 'stuck-1', engine: 'stuck' }),
        { qos: 1 },
      );
      await expect.poll(() => synthesizing, { timeout: 10_000 }).toBe(true);
      const offline = client.next('tts/availability', (p) => p.toString() === 'offline', 15_000);
      const started = Date.now();
      expect(await hub.stop(15_000)).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      await offline;
      const early = client.received.filter((m) => m.topic === 'tts/result' && m.payload.includes('stuck-1'));
      expect(early).toEqual([]); // never SHUTTING_DOWN: the request waits in the journal
      // The next start (the engine answers now: espeak-ng takes the request through the fallback chain).
      const again = await startHub(
        {
          mqtt: { url: broker.url, client_id: 'life-4' },
          engines: [
            { name: 'stuck', type: 'wyoming', url: `tcp://127.0.0.1:${port}`, timeout_s: 1 },
            { name: 'espeak', type: 'espeak' },
          ],
        },
        { shareDir: hub.shareDir },
      );
      expect(JSON.parse((await answer).toString())).toMatchObject({ id: 'stuck-1', ok: true });
      expect(await again.stop()).toBe(0);
      hub.cleanup();
      again.cleanup();
    } finally {
      hanging.close();
    }
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

  it('answers a say accepted by the broker right after a broker restart, before the hub is back', async () => {
    const hub = await startHub({ mqtt: { url: broker.url, client_id: 'life-5' } });
    try {
      await broker.restart();
      // The test client reconnects on its own; the hub may still be waiting to reconnect (2 s period).
      await expect.poll(() => client.client.connected, { timeout: 10_000, interval: 20 }).toBe(true);
      const answer = client.next(
        'tts/result',
        (p) => (JSON.parse(p.toString()) as { id: string }).id === 'after-restart',
      );
      await client.client.publishAsync(
        'tts/say',
        JSON.stringify({ text: 'The garage door is still open.', id: 'after-restart' }),
        {
          qos: 1,
        },
      );
      expect(JSON.parse((await answer).toString())).toMatchObject({ id: 'after-restart', ok: true });
    } finally {
      expect(await hub.stop()).toBe(0);
      hub.cleanup();
    }
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
    rmSync(dir, { recursive: true, force: true });
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
