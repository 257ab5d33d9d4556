/**
 * Secure by default, on the real hub with real sockets (a LAN caller is this host's own LAN address, which the
 * hub sees as a non-loopback peer). Before issue 10: without `http.api_token` any LAN host could list, fetch
 * and delete recordings, clear the cache and read /metrics; audio keys were the plain SHA-256 of the request;
 * `mqtt.url` credentials showed in the log, /api/health, the events and tts/status; any message could make
 * the hub connect to `tcp://host:port`; a Piper CLI voice `../../x.onnx` reached `-m`.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URL_SECRET_FILE } from '../../src/cache/url-keys.js';
import { lanAddress } from '../../src/config/public-url.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';

const LAN = lanAddress();

/** Every cache file name (the cache keys) under `<share>/cache`. */
function cacheKeysOnDisk(shareDir: string): string[] {
  const root = join(shareDir, 'cache');
  return readdirSync(root)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(join(root, d)))
    .filter((n) => n.endsWith('.opus'))
    .map((n) => n.slice(0, 64));
}

describe('secure defaults', () => {
  let broker: RunningMosquitto;
  let hub: InProcessHub;
  let client: SayClient;
  let shareDir: string;
  const dataDir = (): string => join(shareDir, '.data', 'me');

  beforeAll(async () => {
    broker = await startMosquitto();
    shareDir = mkdtempSync(join(tmpdir(), 'tts-hub-sec-'));
    hub = await startInProcessHub({ share_dir: shareDir }, broker.url, { dataDir: dataDir() });
    client = await connectSayClient(broker.url);
  });
  afterAll(async () => {
    await client?.close();
    await hub?.close();
    await broker?.stop();
    rmSync(shareDir, { recursive: true, force: true });
  });

  it('without http.api_token a LAN caller reaches only audio GETs; the 401 names the option', async () => {
    expect(LAN).not.toBe('127.0.0.1');
    const result = await client.say(JSON.stringify({ text: 'Open by capability.', id: 'cap-1' }), 'cap-1');
    const port = new URL(hub.baseUrl).port;
    const lan = (path: string): string => `http://${LAN}:${port}${path}`;
    const audioPath = new URL(result.url as string).pathname;
    expect((await fetch(lan(audioPath))).status).toBe(200);
    expect((await fetch(lan(audioPath), { method: 'HEAD' })).status).toBe(200);
    const refused: Array<[string, string]> = [
      ['GET', '/api/health'],
      ['GET', '/'],
      ['GET', '/api/recordings'],
      ['GET', '/api/cache'],
      ['DELETE', '/api/cache'],
      ['GET', '/metrics'],
      ['GET', '/api/events'],
      ['POST', '/api/say'],
      ['POST', '/v1/audio/speech'],
      ['DELETE', audioPath],
    ];
    for (const [method, path] of refused) {
      const res = await fetch(lan(path), {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify({ text: 'x', input: 'x' }) : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(body.error.message).toMatch(/http\.api_token/);
    }
    // The cache was not cleared by the refused DELETE, and loopback and ingress still reach everything.
    expect(hub.hub.cache.stats().entries).toBeGreaterThan(0);
    expect((await fetch(`${hub.baseUrl}/api/health`)).status).toBe(200);
    const ingress = await hub.hub.http.inject({
      method: 'GET',
      url: '/api/cache',
      remoteAddress: '172.30.32.2',
    });
    expect(ingress.statusCode).toBe(200);
  });

  it('audio URLs carry an HMAC with a per-install secret, not the cache key, and survive a restart', async () => {
    const result = await client.say(JSON.stringify({ text: 'A capability URL.', id: 'cap-2' }), 'cap-2');
    const url = result.url as string;
    const urlKey = /\/api\/audio\/([0-9a-f]{64})\.opus$/.exec(url)?.[1] as string;
    const keys = cacheKeysOnDisk(shareDir);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys).not.toContain(urlKey);
    // The plain cache key (what a LAN peer could compute from a guessed phrase) opens nothing.
    for (const key of keys) expect((await fetch(`${hub.baseUrl}/api/audio/${key}.opus`)).status).toBe(404);
    const secretPath = join(dataDir(), URL_SECRET_FILE);
    expect(readFileSync(secretPath, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(secretPath).mode & 0o777).toBe(0o600);
    // Restarted with the same data dir: the URL handed out before still plays.
    await hub.close();
    hub = await startInProcessHub({ share_dir: shareDir }, broker.url, { dataDir: dataDir() });
    const again = await fetch(url.replace(/^http:\/\/[^/]+/, hub.baseUrl));
    expect(again.status).toBe(200);
    expect(Number(again.headers.get('content-length'))).toBe(result.bytes);
    // Another hub sharing the share volume (its own secret) serves the hit it finds on disk under its own URL.
    const other = await startInProcessHub(
      { share_dir: shareDir, mqtt: { client_id: 'other-hub' } },
      broker.url,
      {
        dataDir: join(shareDir, '.data', 'other'),
      },
    );
    try {
      const answer = await fetch(`${other.baseUrl}/api/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'A capability URL.' }),
      });
      const hit = (await answer.json()) as { cached: boolean; url: string };
      expect(hit.cached).toBe(true);
      expect(new URL(hit.url).pathname).not.toBe(new URL(url).pathname);
      expect((await fetch(hit.url)).status).toBe(200);
      expect((await fetch(`${other.baseUrl}${new URL(url).pathname}`)).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('an ad-hoc tcp:// target is refused unless limits.allow_tcp_targets, and nothing connects', async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const target = `tcp://127.0.0.1:${port}`;
      const refused = await client.say(JSON.stringify({ text: 'Anywhere?', id: 'tcp-1', target }), 'tcp-1');
      expect(refused).toMatchObject({ ok: false, error: { code: 'TARGET_NOT_ALLOWED' } });
      expect((refused.error as { message: string }).message).toMatch(/limits\.allow_tcp_targets/);
      expect(connections).toBe(0);
      const allowing = await startInProcessHub({ limits: { allow_tcp_targets: true } }, broker.url);
      try {
        const res = await fetch(`${allowing.baseUrl}/api/say`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'Anywhere?', target }),
        });
        const body = (await res.json()) as { targets?: Array<{ ok: boolean }> };
        expect(body.targets?.[0]?.ok).toBe(false);
        expect(connections).toBeGreaterThan(0);
      } finally {
        await allowing.close();
      }
    } finally {
      server.close();
    }
  });
});

describe('path-like voices', () => {
  let broker: RunningMosquitto;
  let hub: InProcessHub;
  let dir: string;

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), 'tts-hub-voice-'));
    // A voice planted outside any data dir, and a "piper" that records how it was called.
    writeFileSync(
      join(dir, 'evil.onnx.json'),
      JSON.stringify({ audio: { sample_rate: 16000 }, num_speakers: 1, speaker_id_map: {} }),
    );
    writeFileSync(join(dir, 'evil.onnx'), '');
    const script = join(dir, 'fake-piper.sh');
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${join(dir, 'calls.txt')}\nhead -c 16000 /dev/zero\n`);
    chmodSync(script, 0o755);
    hub = await startInProcessHub(
      {
        engines: [
          { name: 'espeak', type: 'espeak' },
          { name: 'pcli', type: 'piper', transport: 'cli', command: `/bin/sh ${script}` },
        ],
      },
      broker.url,
    );
  });
  afterAll(async () => {
    await hub?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const say = async (body: Record<string, unknown>) => {
    const res = await fetch(`${hub.baseUrl}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { ok: boolean; error?: { code: string; message: string } };
  };

  it('refuses a voice with / or .. that the engine does not list, before the engine runs', async () => {
    const relative = join('..', '..', '..', '..', '..', '..', '..', dir, 'evil.onnx');
    for (const voice of [relative, join(dir, 'evil.onnx'), '../../x.onnx']) {
      const result = await say({ text: 'Reach a file.', engine: 'pcli', voice });
      expect(result.ok).toBe(false);
      expect(result.error?.code).toBe('VOICE_NOT_FOUND');
      expect(result.error?.message).toMatch(/looks like a file path/);
    }
    const espeak = await say({ text: 'Reach a file.', voice: '../../../etc/passwd' });
    expect(espeak.error?.code).toBe('VOICE_NOT_FOUND');
    const calls = (() => {
      try {
        return readFileSync(join(dir, 'calls.txt'), 'utf8');
      } catch {
        return '';
      }
    })();
    expect(calls).not.toMatch(/evil\.onnx|x\.onnx/);
    // A listed voice still speaks.
    expect((await say({ text: 'Hello.', voice: 'en-us' })).ok).toBe(true);
  });
});

describe('credentials in options', () => {
  let broker: RunningMosquitto;
  let hub: HubProcess;
  let client: SayClient;
  const MQTT_PASSWORD = 's3cret-mqtt-pw';
  const ENGINE_PASSWORD = 'engine-pw-42';

  beforeAll(async () => {
    broker = await startMosquitto();
    const closed = await freePort();
    hub = await startHub({
      mqtt: { url: broker.url.replace('mqtt://', `mqtt://tts:${MQTT_PASSWORD}@`) },
      engines: [
        { name: 'espeak', type: 'espeak' },
        { name: 'remote', type: 'openai', url: `http://key:${ENGINE_PASSWORD}@127.0.0.1:${closed}` },
      ],
    });
    client = await connectSayClient(broker.url, { extraTopics: ['tts/status'] });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
  });

  it('never show a password from mqtt.url or an engine URL in the log, /api/health, the events or tts/status', async () => {
    // The remote engine fails (its error quotes its URL), and a say goes through.
    const result = await client.say(JSON.stringify({ text: 'Credentials?', id: 'cred-1' }), 'cred-1');
    expect(result.ok).toBe(true);
    const health = await (await fetch(`${hub.baseUrl}/api/health`)).text();
    expect(health).toContain('127.0.0.1');
    const events = new AbortController();
    const res = await fetch(`${hub.baseUrl}/api/events`, { signal: events.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let stream = '';
    const until = Date.now() + 2500;
    while (Date.now() < until && !stream.includes('event: status')) {
      const { value, done } = await reader.read();
      if (done) break;
      stream += Buffer.from(value).toString('utf8');
    }
    events.abort();
    const status = client.received
      .filter((m) => m.topic === 'tts/status')
      .map((m) => m.payload.toString())
      .join('\n');
    expect(status).toContain('"engines"');
    expect(stream).toContain('event: status');
    const logs = hub.output();
    expect(logs).toContain('mqtt connected');
    for (const [name, text] of Object.entries({ logs, health, stream, status })) {
      expect(text, name).not.toContain(MQTT_PASSWORD);
      expect(text, name).not.toContain(ENGINE_PASSWORD);
    }
  });
});
