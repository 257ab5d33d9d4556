/**
 * A hub whose Opus encode thread dies in the middle of a say (the OpenAI-style stand-in behind a gate that takes
 * 1 s per sentence, so the encode is surely under way): that say fails with ENCODER_FAILED on tts/result, its
 * live listener gets a broken stream, nothing is cached, the hub keeps running, and the next say is spoken on a
 * new thread.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncodePool } from '../../src/audio/encode-pool.js';
import { encodeThreads, useEncodeThreads } from '../../src/audio/encode-threads.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

/** Every file under `dir`, recursively ([] when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)],
  );
}

describe('an encode thread that dies mid-say', () => {
  let fx: HubFixture;
  const gate = useGatedOpenAiServer((g) => {
    g.delayMs = 1000;
  });

  let release: () => Promise<void> = async () => {};

  beforeAll(async () => {
    // The threads running from the start (a hub starts them only when two encodes run at once): the hub joins
    // this process's encode threads.
    ({ release } = await useEncodeThreads(1));
    fx = await startHubFixture({
      engines: [{ name: 'slow', type: 'openai', url: `${gate().url}/v1`, voice: 'af_heart' }],
      opus: { threads: 1 },
    });
  });
  afterAll(async () => {
    await fx?.close();
    await release();
  });

  it('fails that say with ENCODER_FAILED and no cache entry; the next say works', async () => {
    const pool = encodeThreads() as EncodePool;
    expect(pool.workers()).toHaveLength(1);
    const text = 'The laundry is done. Please take it out soon. The dryer is next.';
    const result = fx.client.say(JSON.stringify({ text, id: 'dies-1' }), 'dies-1');
    // An identical HTTP request joins the same synthesis and answers with its live URL at once.
    const res = await fetch(`${fx.url}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, wait: false, id: 'dies-2' }),
    });
    const started = (await res.json()) as { url: string; live: boolean };
    expect(started.live).toBe(true);
    const reader = ((await fetch(started.url)).body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read(); // the first sentence is encoded; two more are still to come
    expect(Buffer.from(first.value as Uint8Array).toString('latin1', 0, 4)).toBe('OggS');
    expect(pool.running).toBe(1);
    await pool.workers()[0]?.terminate();

    const rest = (async () => {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        // drain
      }
    })();
    await expect(rest).rejects.toThrow(); // a cut chunked response, not a clean end
    const failed = await result;
    expect(failed).toMatchObject({ id: 'dies-1', ok: false, error: { code: 'ENCODER_FAILED' } });
    expect((failed.error as { message: string }).message).toMatch(/Opus encode thread stopped mid-encode/);
    expect(filesUnder(join(fx.shareDir, 'cache')).filter((f) => /\.(opus|json)$/.test(f))).toEqual([]);

    const again = await fx.client.say(JSON.stringify({ text: 'The dryer is done too.', id: 'next' }), 'next');
    expect(again).toMatchObject({ ok: true, cached: false });
    const audio = Buffer.from(await (await fetch(String(again.url))).arrayBuffer());
    const probe = await ffprobe(audio);
    expect(probe.codec).toBe('opus');
    expect(Math.abs(probe.durationMs - (again.duration_ms as number))).toBeLessThan(20);
    expect(pool.workers()).toHaveLength(1);
  });
});
