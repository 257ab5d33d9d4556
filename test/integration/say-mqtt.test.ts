/**
 * The main job end to end on real parts: mosquitto, espeak-ng, ffmpeg, the disk cache and HTTP.
 * `tts/say` → `tts/result` with a URL serving Ogg Opus of the right length; a repeat is a cache hit that runs
 * no engine and no ffmpeg.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';

describe('tts/say → tts/result with cached Ogg Opus', () => {
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    fx = await startHubFixture({});
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('speaks plain text, serves Ogg Opus of the reported length, and answers a repeat from the cache', async () => {
    const text = 'The washing machine has finished.';
    const first = await client.say(text);
    expect(first).toMatchObject({
      ok: true,
      engine: 'espeak',
      cached: false,
      format: 'opus',
      text_chars: text.length,
      duration_ms: expect.any(Number),
      bytes: expect.any(Number),
      latency_ms: { total: expect.any(Number), first_audio: expect.any(Number) },
    });
    expect(first.id).toEqual(expect.any(String));
    expect(first).toHaveProperty('voice'); // null: the engine's own default voice
    const latency = first.latency_ms as { total: number; first_audio: number };
    expect(latency.first_audio).toBeLessThanOrEqual(latency.total);
    const url = first.url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/audio\/[0-9a-f]{64}\.opus$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/ogg');
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
    expect(body.length).toBe(first.bytes);
    expect(body.subarray(0, 4).toString('latin1')).toBe('OggS');
    const probe = await ffprobe(body);
    expect(probe.codec).toBe('opus');
    expect(probe.container).toContain('ogg');
    expect(Math.abs(probe.durationMs - (first.duration_ms as number))).toBeLessThan(100);
    expect(probe.durationMs).toBeGreaterThan(1000);

    const spawnsBefore = ffmpegSpawnCount();
    const runsBefore = fx.hub.sayService.stats().engineRuns.espeak ?? 0;
    const second = await client.say(text);
    expect(second).toMatchObject({
      ok: true,
      cached: true,
      url,
      bytes: first.bytes,
      duration_ms: first.duration_ms,
    });
    expect(ffmpegSpawnCount()).toBe(spawnsBefore);
    expect(fx.hub.sayService.stats().engineRuns.espeak ?? 0).toBe(runsBefore);
  });

  it('serves byte ranges and HEAD for cached audio', async () => {
    const result = await client.say(JSON.stringify({ text: 'Dinner is ready!', id: 'range-1' }), 'range-1');
    const url = result.url as string;
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(result.bytes);
    const part = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-99/${result.bytes}`);
    expect((await part.arrayBuffer()).byteLength).toBe(100);
  });

  it('refuses audio names that are not a cache key, and unknown keys', async () => {
    for (const name of ['..%2F..%2Fetc%2Fpasswd', 'abc.opus', `${'0'.repeat(64)}.exe`]) {
      const res = await fetch(`${fx.url}/api/audio/${name}`);
      expect(res.status).toBe(404);
    }
    const missing = await fetch(`${fx.url}/api/audio/${'a'.repeat(64)}.opus`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('answers reply_to and the MQTT 5 response topic with the correlation data', async () => {
    await client.client.subscribeAsync(['my/replies', 'my/response'], { qos: 1 });
    const onReply = client.next('my/replies');
    const onResponse = client.next('my/response');
    await client.client.publishAsync(
      'tts/say',
      JSON.stringify({ text: 'Motion detected in the back garden.', reply_to: 'my/replies' }),
      {
        qos: 1,
        properties: { responseTopic: 'my/response', correlationData: Buffer.from('corr-42') },
      },
    );
    const reply = JSON.parse((await onReply).toString()) as { ok: boolean };
    expect(reply.ok).toBe(true);
    expect(JSON.parse((await onResponse).toString())).toMatchObject({ ok: true });
  });

  it('answers POST /api/say with the same result shape', async () => {
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Someone is at the front door.', id: 'http-1' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'http-1', ok: true, engine: 'espeak', format: 'opus' });
    const health = (await (await fetch(`${fx.url}/api/health`)).json()) as { status: string };
    expect(health.status).toBe('ok');
  });
});
