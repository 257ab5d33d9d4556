/**
 * Requests in flight are bounded (issue 10): with `mqtt.max_in_flight: 2`, a burst of say requests is worked on
 * two at a time (the rest wait in the journal, as `/api/health` `requests` shows), and all are answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';

describe('requests in flight', () => {
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    fx = await startHubFixture({
      mqtt: { max_in_flight: 2, receive_maximum: 5 },
      engines: [{ name: 'espeak', type: 'espeak', max_parallel: 4 }],
    });
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('works on at most max_in_flight requests at once and answers them all', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `bound-${i}`);
    let maxRunning = 0;
    let maxQueued = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const health = (await (await fetch(`${fx.url}/api/health`)).json()) as {
          requests: { running: number; queued: number };
        };
        maxRunning = Math.max(maxRunning, health.requests.running);
        maxQueued = Math.max(maxQueued, health.requests.queued);
        await new Promise((r) => setTimeout(r, 10)); // the sampling period; waits for nothing
      }
    })();
    const answers = ids.map((id) =>
      client.next('tts/result', (p) => p.includes(`"${id}"`), 60_000).then((p) => JSON.parse(p.toString())),
    );
    for (const [i, id] of ids.entries()) {
      await client.client.publishAsync(
        'tts/say',
        JSON.stringify({ id, text: `Bounded request ${i} of twelve, spoken in turn.` }),
        { qos: 1 },
      );
    }
    const results = (await Promise.all(answers)) as Array<{ ok: boolean }>;
    polling = false;
    await poll;
    expect(results.every((r) => r.ok)).toBe(true);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(maxRunning).toBeGreaterThan(0);
    expect(maxQueued).toBeGreaterThan(0);
  });
});
