/**
 * The HTTP live stream in every format: while an Ogg Opus say is still being spoken, asking its audio in MP3 or
 * WAV (what a media player target that needs MP3 does) gives a URL that streams at once, from the live job's
 * PCM, instead of waiting for the whole file to be transcoded; the result decodes to the same length and becomes
 * that format's cache entry. Engine: the OpenAI-style stand-in behind a gate that takes 1 s per sentence.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toSayRequest } from '../../src/inputs/say-payload.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

async function timedGet(url: string, t0: number): Promise<{ first: number; total: number; body: Buffer }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const parts: Buffer[] = [];
  let first = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (!first) first = performance.now() - t0;
    parts.push(Buffer.from(chunk));
  }
  return { first, total: performance.now() - t0, body: Buffer.concat(parts) };
}

describe('live stream of a say in another format', () => {
  let fx: HubFixture;
  const gate = useGatedOpenAiServer((g) => {
    g.delayMs = 1000;
  });

  beforeAll(async () => {
    fx = await startHubFixture({
      engines: [{ name: 'slow', type: 'openai', url: `${gate().url}/v1`, voice: 'af_heart' }],
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('streams mp3 and wav of a live opus say from its first sentence, and caches them', async () => {
    const text = 'The laundry is done. Please take it out soon. The dryer is next.';
    const t0 = performance.now();
    const ticket = await fx.hub.sayService.begin(toSayRequest({ text, format: 'opus' }, 2000));
    const signal = AbortSignal.timeout(60_000);
    const [mp3, wav] = await Promise.all([ticket.audio.as('mp3', signal), ticket.audio.as('wav', signal)]);
    expect(mp3.live).toBe(true);
    expect(wav.live).toBe(true);
    const [gotMp3, gotWav, gotOpus] = await Promise.all([
      timedGet(mp3.url, t0),
      timedGet(wav.url, t0),
      timedGet(ticket.audio.url, t0),
    ]);
    const result = await ticket.done;
    for (const got of [gotMp3, gotWav]) {
      // Three sentences at about 1 s each: the first audio leaves after the first one.
      expect(got.first).toBeLessThan(got.total - 1200);
      expect(got.first).toBeLessThan(gotOpus.first + 500);
    }
    const [pMp3, pWav] = await Promise.all([ffprobe(gotMp3.body), ffprobe(gotWav.body)]);
    expect(pMp3.codec).toBe('mp3');
    expect(pWav.codec).toBe('pcm_s16le');
    expect(Math.abs(pWav.durationMs - result.durationMs)).toBeLessThan(50);
    expect(Math.abs(pMp3.durationMs - result.durationMs)).toBeLessThan(150);
    // Now cached: a plain file with a length, no engine call.
    const requests = gate().requests.length;
    const again = await fetch(mp3.url);
    expect(again.headers.get('content-length')).toBe(String((await mp3.ready(signal)).bytes));
    expect(Buffer.from(await again.arrayBuffer()).equals(gotMp3.body)).toBe(true);
    expect(gate().requests.length).toBe(requests);
  });
});
