/**
 * LLM text clean-up end to end: a Markdown answer sent to the notify entity (clean-up on by default) is spoken
 * as plain text, the same answer again is a cache hit, and `tts/say` with `"clean": true` reaches the same
 * cache entry (the key hashes the cleaned text); without clean-up tts/say speaks the text as sent.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';

const answer = readFileSync(new URL('../fixtures/llm-answer.md', import.meta.url), 'utf8');

describe('text clean-up through the hub', () => {
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    fx = await startHubFixture({ recorder: { enabled: false } });
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
  });

  /** Publishes `text` on the notify entity's topic and waits for its result. */
  const notify = async (text: string): Promise<Record<string, unknown>> => {
    const next = client.next('tts/result', () => true, 60_000);
    await client.client.publishAsync('tts/notify', text, { qos: 1 });
    return JSON.parse((await next).toString());
  };

  it('speaks a notify message cleaned, and the same message again from the cache', async () => {
    const runs = () => Object.values(fx.hub.sayService.stats().engineRuns).reduce((a, b) => a + b, 0);
    const first = await notify(answer);
    expect(first).toMatchObject({ ok: true, cached: false });
    const cleanedChars = first.text_chars as number;
    expect(cleanedChars).toBeLessThan(answer.length);
    const enginesBefore = runs();
    const second = await notify(answer);
    expect(second).toMatchObject({ ok: true, cached: true, url: first.url, text_chars: cleanedChars });
    expect(runs()).toBe(enginesBefore);

    // tts/say asking for clean-up finds the same entry; without it, the raw Markdown is another text.
    const asked = await client.say(JSON.stringify({ id: 'c-1', text: answer, clean: true }), 'c-1', 60_000);
    expect(asked).toMatchObject({ ok: true, cached: true, url: first.url });
    const raw = await client.say(JSON.stringify({ id: 'c-2', text: answer }), 'c-2', 60_000);
    expect(raw).toMatchObject({ ok: true, cached: false });
    expect(raw.text_chars as number).toBeGreaterThan(cleanedChars);

    const entry = fx.hub.cache.get(fx.hub.cacheKeyOfUrl(String(first.url)) ?? '', 'opus');
    expect(entry?.meta.text).not.toMatch(/\*\*|https?:|```|😊/);
  }, 120_000);
});
