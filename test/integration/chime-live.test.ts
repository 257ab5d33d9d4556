/**
 * Issue 18, streaming stays fast: with a chime, the live HTTP stream's first Ogg audio page is the chime, out
 * while the engine has produced nothing (a gate holds the OpenAI-style stand-in's answer until the page was
 * seen); the speech follows without a gap beyond `offset_ms`, and the finished file is chime + speech long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

type Json = Record<string, unknown>;

/** Byte offset just past the first Ogg page with a positive granule position (audio), or -1. */
function firstAudioPageEnd(buf: Buffer): number {
  for (let at = buf.indexOf('OggS'); at >= 0 && at + 27 <= buf.length; at = buf.indexOf('OggS', at + 1)) {
    const segments = buf[at + 26] as number;
    if (at + 27 + segments > buf.length) return -1;
    let size = 27 + segments;
    for (let i = 0; i < segments; i++) size += buf[at + 27 + i] as number;
    if (buf.readBigInt64LE(at + 6) > 0n && at + size <= buf.length) return at + size;
  }
  return -1;
}

async function post(baseUrl: string, body: Json): Promise<Json> {
  const res = await fetch(`${baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Json;
}

describe('live stream with a chime', () => {
  const gate = useGatedOpenAiServer();
  let fx: HubFixture;

  beforeAll(async () => {
    fx = await startHubFixture({
      engines: [{ name: 'kokoro', type: 'openai', url: gate().url, voice: 'af_heart', timeout_s: 60 }],
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('sends the chime before the engine has spoken, then the speech with no gap', async () => {
    const text = 'The front door has been open for ten minutes. Please close it.';
    const plain = await post(fx.url, { text });
    expect(plain).toMatchObject({ ok: true });
    const speechMs = (await ffprobe(Buffer.from(await (await fetch(plain.url as string)).arrayBuffer())))
      .durationMs;

    const release = gate().hold();
    let released = false;
    try {
      const asked = gate().requests.length;
      const t0 = performance.now();
      // cache: false, so the sentences spoken above are not reused from the phrase cache: the engine is asked.
      const started = await post(fx.url, {
        text,
        chime: 'dingdong',
        cache: false,
        wait: false,
        id: 'live-chime',
      });
      expect(started).toMatchObject({ ok: true, live: true });
      const res = await fetch(started.url as string);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let seen = Buffer.alloc(0);
      while (firstAudioPageEnd(seen) < 0) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended before any audio page');
        seen = Buffer.concat([seen, Buffer.from(value)]);
      }
      const firstPageMs = performance.now() - t0;
      // Only now is the engine's first sentence let through: nothing it produced can be in that page.
      await expect.poll(() => gate().requests.length, { timeout: 10_000 }).toBeGreaterThan(asked);
      expect(gate().requests.at(-1)?.body).toContain('The front door has been open for ten minutes.');
      console.info(`first audio page with a chime: ${firstPageMs.toFixed(1)} ms after the request`);
      release();
      released = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen = Buffer.concat([seen, Buffer.from(value)]);
      }
      const probe = await ffprobe(seen);
      const chimeMs = (await ffprobe(`${process.cwd()}/src/chimes/builtin/dingdong.ogg`)).durationMs;
      expect(probe.codec).toBe('opus');
      expect(Math.abs(probe.durationMs - (chimeMs + speechMs))).toBeLessThanOrEqual(50);
    } finally {
      if (!released) release();
    }
  });
});
