/**
 * An engine with two instances (`urls`): two real wyoming-piper processes, each behind a proxy that counts the
 * synthesize requests reaching it. Forty requests are shared between them; when one instance is killed
 * mid-run the others finish on the other instance, none is lost, and the fallback engine is never used.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';
import { type CountProxy, startCountProxy } from '../helpers/wyoming-count-proxy.js';

type Json = Record<string, unknown>;

const REQUESTS = 40;

let broker: RunningMosquitto;
let pipers: RunningPiper[] = [];
let proxies: CountProxy[] = [];
let hub: InProcessHub | undefined;

beforeAll(async () => {
  broker = await startMosquitto();
}, 60_000);
afterAll(() => broker?.stop());

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(pipers.map((p) => p.stop()));
  proxies = [];
  pipers = [];
});

/** Two wyoming-piper behind counting proxies, and a hub whose `piper` engine has both as instances. */
async function startPool(): Promise<InProcessHub> {
  pipers = await Promise.all([startWyomingPiper(), startWyomingPiper()]);
  proxies = await Promise.all(pipers.map((p) => startCountProxy(p.url)));
  return startInProcessHub(
    {
      engines: [
        {
          name: 'piper',
          type: 'piper',
          urls: proxies.map((p) => p.url),
          voice: PIPER_VOICE,
          max_parallel: 1,
          timeout_s: 60,
        },
        { name: 'espeak', type: 'espeak' },
      ],
      default_deadline_s: 600,
    },
    broker.url,
  );
}

async function say(h: InProcessHub, text: string): Promise<Json> {
  const res = await fetch(`${h.baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return (await res.json()) as Json;
}

/** One sentence each (one synthesize each), all different, so neither cache answers. */
const texts = (tag: string): string[] =>
  Array.from({ length: REQUESTS }, (_, i) => `Reminder ${tag} ${i + 1}: the garage door is still open.`);

describe('engine pool of two wyoming-piper instances', () => {
  it('shares 40 requests between the two instances within ±25 %', async () => {
    hub = await startPool();
    const h = hub;
    const results = await Promise.all(texts('shared').map((t) => say(h, t)));
    expect(results.every((r) => r.ok === true && r.engine === 'piper' && !r.fallback_from)).toBe(true);
    const counts = proxies.map((p) => p.synthesizes);
    expect(counts[0]! + counts[1]!).toBe(REQUESTS);
    for (const n of counts) {
      expect(n).toBeGreaterThanOrEqual(REQUESTS / 2 - REQUESTS / 8); // 15
      expect(n).toBeLessThanOrEqual(REQUESTS / 2 + REQUESTS / 8); // 25
    }
    // The result names the instance that spoke, and agrees with what reached each one.
    for (const [i, proxy] of proxies.entries()) {
      expect(results.filter((r) => r.instance === proxy.url)).toHaveLength(counts[i]!);
    }
    const { engines } = (await (await fetch(`${h.baseUrl}/api/engines`)).json()) as { engines: Json[] };
    const row = engines.find((e) => e.name === 'piper') as { instances: Json[]; speed: Json };
    expect(row.instances.map((i) => [i.endpoint, i.served, i.healthy])).toEqual(
      proxies.map((p, i) => [p.url, counts[i], true]),
    );
    expect(row.speed).toMatchObject({ samples: REQUESTS, p50_ms: expect.any(Number) });
  }, 240_000);

  it('finishes every request on the other instance when one is killed mid-run, without the fallback', async () => {
    hub = await startPool();
    const h = hub;
    let done = 0;
    const all = Promise.all(
      texts('killed').map((t) =>
        say(h, t).then((r) => {
          done++;
          return r;
        }),
      ),
    );
    await expect.poll(() => done, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(8);
    await pipers[1]!.kill();
    const results = await all;
    expect(results.filter((r) => r.ok !== true)).toEqual([]);
    expect(new Set(results.map((r) => r.id)).size).toBe(REQUESTS);
    expect(results.filter((r) => r.engine !== 'piper' || r.fallback_from)).toEqual([]);
    // The killed one spoke a few before it died; the survivor spoke the rest.
    const spokenBy = proxies.map((p) => results.filter((r) => r.instance === p.url).length);
    expect(spokenBy[1]).toBeGreaterThan(0);
    expect(spokenBy[0]! + spokenBy[1]!).toBe(REQUESTS);
    expect(spokenBy[0]).toBeGreaterThan(REQUESTS / 2);
    const { engines } = (await (await fetch(`${h.baseUrl}/api/engines`)).json()) as { engines: Json[] };
    const row = engines.find((e) => e.name === 'piper') as { healthy: boolean; instances: Json[] };
    expect(row.healthy).toBe(true);
    expect(row.instances[1]).toMatchObject({ healthy: false, error: expect.any(String) });
    expect(h.hub.sayService.stats().engineRuns.espeak).toBeUndefined();
  }, 240_000);
});
