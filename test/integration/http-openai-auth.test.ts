/**
 * The HTTP edge on real parts (mosquitto, espeak-ng, ffmpeg, ffprobe): the API token rule for peers other than
 * ingress and loopback, `POST /v1/audio/speech` in each format checked with ffprobe, OpenAI-shaped errors, and
 * `GET /metrics` counting what happened.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

const run = promisify(execFile);
const TOKEN = 'secret-token-123';
const LAN = '192.168.1.50';

/** ffprobe of raw PCM, which has no header: the format must be given. */
async function probePcm(pcm: Buffer): Promise<{ codec: string; rate: number; channels: number; ms: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pcm-'));
  try {
    const file = join(dir, 'a.raw');
    await writeFile(file, pcm);
    const { stdout } = await run('ffprobe', [
      ...['-v', 'error', '-f', 's16le', '-ar', '24000', '-ac', '1', '-print_format', 'json'],
      ...['-show_streams', '-show_format', file],
    ]);
    const json = JSON.parse(stdout) as {
      streams: Array<{ codec_name: string; sample_rate: string; channels: number }>;
      format: { duration: string };
    };
    const s = json.streams[0] as { codec_name: string; sample_rate: string; channels: number };
    return {
      codec: s.codec_name,
      rate: Number(s.sample_rate),
      channels: s.channels,
      ms: Number(json.format.duration) * 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('HTTP: API token, OpenAI speech endpoint, metrics', () => {
  let fx: HubFixture;

  beforeAll(async () => {
    fx = await startHubFixture({ http: { api_token: TOKEN } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('refuses a LAN peer without the token (401, error body) and accepts it with the token', async () => {
    const app = fx.hub.http;
    const refused = await app.inject({ method: 'GET', url: '/api/health', remoteAddress: LAN });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect(refused.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const wrong = await app.inject({
      method: 'GET',
      url: '/api/health',
      remoteAddress: LAN,
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    const ok = await app.inject({
      method: 'GET',
      url: '/api/health',
      remoteAddress: LAN,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.statusCode).toBe(200);
    const speech = await app.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      remoteAddress: LAN,
      payload: { model: 'tts-1', input: 'hi', voice: 'alloy' },
    });
    expect(speech.statusCode).toBe(401);
  });

  it('trusts loopback and the ingress proxy, and the ingress header opens nothing for others', async () => {
    const app = fx.hub.http;
    const loop = await app.inject({ method: 'GET', url: '/api/health', remoteAddress: '127.0.0.1' });
    expect(loop.statusCode).toBe(200);
    const ingress = await app.inject({
      method: 'GET',
      url: '/api/health',
      remoteAddress: '172.30.32.2',
      headers: { 'x-ingress-path': '/api/hassio_ingress/abc' },
    });
    expect(ingress.statusCode).toBe(200);
    // The header does not open the door for anyone else.
    const spoofed = await app.inject({
      method: 'GET',
      url: '/api/health',
      remoteAddress: LAN,
      headers: { 'x-ingress-path': '/api/hassio_ingress/abc' },
    });
    expect(spoofed.statusCode).toBe(401);
  });

  it('builds no file path from a request: traversal in audio names and recording ids finds nothing', async () => {
    const hex = 'a'.repeat(64);
    for (const url of [
      '/api/audio/..%2f..%2fpackage.json',
      '/api/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      `/api/audio/..%2f${hex}.opus`,
      `/api/audio/${hex}.json`,
      '/api/recordings/..%2f..%2fpackage.json/audio',
      '/api/recordings/%2e%2e/audio',
      '/ui/..%2f..%2f..%2fpackage.json',
    ]) {
      const res = await fx.hub.http.inject({ method: 'GET', url });
      expect([400, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toMatch(/tts-hub|root:/);
    }
    const del = await fx.hub.http.inject({
      method: 'DELETE',
      url: '/api/recordings/..%2f..%2fpackage.json',
    });
    expect([400, 404]).toContain(del.statusCode);
  });

  it('refuses bodies over the size limit', async () => {
    const res = await fx.hub.http.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      payload: { model: 'x', input: 'a'.repeat(70 * 1024) },
    });
    expect(res.statusCode).toBe(413);
  });

  it.each([
    ['opus', 'audio/ogg', 'opus', 'ogg'],
    ['mp3', 'audio/mpeg', 'mp3', 'mp3'],
    ['wav', 'audio/wav', 'pcm_s16le', 'wav'],
  ])('answers response_format %s as %s', async (format, type, codec, container) => {
    const res = await fx.hub.http.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      payload: { model: 'espeak', input: `Format ${format} test.`, voice: 'alloy', response_format: format },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    const probe = await ffprobe(res.rawPayload);
    expect(probe.codec).toBe(codec);
    expect(probe.container).toContain(container);
    expect(probe.durationMs).toBeGreaterThan(500);
  });

  it('answers pcm as raw s16le 24 kHz mono, and speed changes the duration', async () => {
    const body = { model: 'tts-1', input: 'Raw samples please.', response_format: 'pcm' };
    const normal = await fx.hub.http.inject({ method: 'POST', url: '/v1/audio/speech', payload: body });
    expect(normal.statusCode).toBe(200);
    expect(normal.headers['content-type']).toMatch(/^audio\/pcm/);
    expect(normal.rawPayload.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
    const probe = await probePcm(normal.rawPayload);
    expect(probe).toMatchObject({ codec: 'pcm_s16le', rate: 24000, channels: 1 });
    expect(probe.ms).toBeGreaterThan(500);
    const fast = await fx.hub.http.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      payload: { ...body, speed: 2 },
    });
    const fastMs = (await probePcm(fast.rawPayload)).ms;
    expect(fastMs).toBeLessThan(probe.ms * 0.7);
  });

  it('reports errors in the OpenAI shape', async () => {
    const bad = await fx.hub.http.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      payload: { model: 'tts-1', input: 'x', response_format: 'vorbis' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      error: {
        type: 'invalid_request_error',
        code: 'FORMAT_UNSUPPORTED',
        message: expect.stringContaining('vorbis'),
      },
    });
    const empty = await fx.hub.http.inject({
      method: 'POST',
      url: '/v1/audio/speech',
      payload: { model: 'tts-1', input: '   ' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('TEXT_EMPTY');
  });

  it('exposes counters, histograms, queue depth and engine health on /metrics', async () => {
    await fx.hub.http.inject({ method: 'POST', url: '/api/say', payload: { text: 'Metrics check.' } });
    await fx.hub.http.inject({ method: 'POST', url: '/api/say', payload: { text: 'Metrics check.' } });
    const failed = await fx.hub.http.inject({
      method: 'POST',
      url: '/api/say',
      payload: { text: 'No such engine.', engine: 'nope' },
    });
    expect(failed.statusCode).toBe(400);
    const res = await fx.hub.http.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    const value = (line: RegExp): number => Number(text.match(line)?.[1] ?? Number.NaN);
    expect(value(/^tts_hub_requests_total\{result="ok"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^tts_hub_errors_total\{code="ENGINE_NOT_FOUND"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^tts_hub_cache_hits_total (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^tts_hub_cache_misses_total (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^tts_hub_say_latency_seconds_count\{cached="true"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^tts_hub_first_audio_seconds_bucket\{le="0\.005",cached="false"\} \d+/m);
    expect(text).toMatch(/^tts_hub_queue_depth 0$/m);
    expect(text).toMatch(/^tts_hub_engine_healthy\{engine="espeak"\} 1$/m);
    expect(text).toMatch(/^tts_hub_recorded_bytes \d+$/m);
    const lan = await fx.hub.http.inject({ method: 'GET', url: '/metrics', remoteAddress: LAN });
    expect(lan.statusCode).toBe(401);
  });
});
