/**
 * A synthesis that fails halfway (the real wyoming-piper behind a proxy that resets the connection of the
 * second sentence): a listener on the live URL gets the first sentence's Ogg pages and then a broken stream,
 * tts/result says ok:false, and nothing is left in the cache.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEN_SENTENCES } from '../helpers/announcements.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { startInProcessHub } from '../helpers/hub-inprocess.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';
import { type CutProxy, startCutProxy } from '../helpers/wyoming-cut-proxy.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)],
  );
}

describe('a synthesis that fails halfway', () => {
  let piper: RunningPiper;
  let proxy: CutProxy;
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    piper = await startWyomingPiper();
    proxy = await startCutProxy(piper.url, 1);
    fx = await startHubFixture({
      engines: [{ name: 'piper', type: 'piper', url: proxy.url, voice: PIPER_VOICE }],
    });
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    await proxy?.stop();
    await piper?.stop();
  });

  it('cuts the live stream, publishes an error result and leaves no cache entry', async () => {
    const result = client.say(JSON.stringify({ text: TEN_SENTENCES, id: 'cut-1' }), 'cut-1');
    // An identical HTTP request joins the same synthesis and answers with its URL at once.
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: TEN_SENTENCES, wait: false, id: 'cut-2' }),
    });
    const started = (await res.json()) as { url: string; live: boolean };
    expect(started.live).toBe(true);
    const live = await fetch(started.url);
    expect(live.status).toBe(200);
    const reader = (live.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(
      Buffer.from(first.value as Uint8Array)
        .subarray(0, 4)
        .toString('latin1'),
    ).toBe('OggS');
    await proxy.holding;
    proxy.cut();
    let received = first.value?.length ?? 0;
    const rest = (async () => {
      for (;;) {
        const next = await reader.read();
        if (next.done) return 'ended';
        received += next.value.length;
      }
    })();
    // A cut chunked response (no terminating chunk) rejects; a clean end would wrongly look like a whole file.
    await expect(rest).rejects.toThrow();
    expect(received).toBeGreaterThan(0);

    expect(await result).toMatchObject({ id: 'cut-1', ok: false, error: { code: 'ENGINE_FAILED' } });
    const after = await fetch(started.url);
    expect(after.status).toBe(404);
    expect(filesUnder(join(fx.shareDir, 'cache'))).toEqual([]);
  });

  it('restarts the live audio on the fallback engine: the early URL then serves its audio', async () => {
    const cutting = await startCutProxy(piper.url, 1);
    const withFallback = await startInProcessHub(
      {
        engines: [
          { name: 'piper', type: 'piper', url: cutting.url, voice: PIPER_VOICE },
          { name: 'espeak', type: 'espeak' },
        ],
        // Its own topics: the first hub listens on the default ones.
        topics: { say: 'fallback/say', result: 'fallback/result' },
      },
      fx.broker.url,
    );
    const own = await connectSayClient(fx.broker.url, {
      sayTopic: 'fallback/say',
      resultTopic: 'fallback/result',
    });
    try {
      const text = 'The car has finished charging. Range is 412 km. Drive safely.';
      const result = own.say(JSON.stringify({ text, id: 'fb-1' }), 'fb-1');
      const res = await fetch(`${withFallback.baseUrl}/api/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, wait: false, id: 'fb-2' }),
      });
      const early = ((await res.json()) as { url: string }).url;
      const live = await fetch(early);
      const reader = (live.body as ReadableStream<Uint8Array>).getReader();
      await reader.read(); // Piper's first sentence is on the wire
      await cutting.holding;
      cutting.cut();
      // This listener had Piper's bytes: its stream breaks rather than splicing another engine's audio in.
      await expect(
        (async () => {
          for (let next = await reader.read(); !next.done; next = await reader.read()) {
            // keep reading
          }
        })(),
      ).rejects.toThrow();
      const final = await result;
      expect(final).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['piper'] });
      expect(final.url).not.toBe(early);
      // The URL handed out first now serves the fallback's finished file.
      const after = await fetch(early);
      expect(after.status).toBe(200);
      expect(Number(after.headers.get('content-length'))).toBe(final.bytes);
      const body = Buffer.from(await after.arrayBuffer());
      expect(body.equals(Buffer.from(await (await fetch(final.url as string)).arrayBuffer()))).toBe(true);
    } finally {
      await own.close();
      await withFallback.close();
      await cutting.stop();
    }
  });

  it('hands a target the URL while the engine still speaks, and answers one result', async () => {
    const holder = await startCutProxy(piper.url, 1);
    const early = await startInProcessHub(
      {
        engines: [{ name: 'piper', type: 'piper', url: holder.url, voice: PIPER_VOICE }],
        targets: [{ name: 'den', type: 'mqtt', url: 'early/den' }],
        topics: { say: 'early/say', result: 'early/result' },
      },
      fx.broker.url,
    );
    const own = await connectSayClient(fx.broker.url, {
      sayTopic: 'early/say',
      resultTopic: 'early/result',
      extraTopics: ['early/den'],
    });
    try {
      const told = own.next('early/den');
      const result = own.say(
        JSON.stringify({ text: TEN_SENTENCES, id: 'early-1', target: 'den' }),
        'early-1',
      );
      const payload = JSON.parse((await told).toString()) as { url: string };
      // The engine is held on its second sentence: synthesis cannot have ended, yet the target has its URL.
      await holder.holding;
      const live = await fetch(payload.url);
      expect(live.headers.get('cache-control')).toBe('no-store');
      const reader = (live.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(
        Buffer.from(first.value as Uint8Array)
          .subarray(0, 4)
          .toString('latin1'),
      ).toBe('OggS');
      holder.cut();
      await expect(
        (async () => {
          for (let next = await reader.read(); !next.done; next = await reader.read()) {
            // keep reading
          }
        })(),
      ).rejects.toThrow();
      expect(await result).toMatchObject({ id: 'early-1', ok: false });
      const results = own.received.filter(
        (m) => m.topic === 'early/result' && JSON.parse(m.payload.toString()).id === 'early-1',
      );
      expect(results).toHaveLength(1);
    } finally {
      await own.close();
      await early.close();
      await holder.stop();
    }
  });
});
