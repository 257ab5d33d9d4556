/**
 * Schedules from the options on real parts (mosquitto, espeak-ng, ffmpeg): a cron every second says something
 * through the say service; a precache schedule fills the cache with its phrases; a bad cron expression fails
 * option validation with the field and the problem.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import type { SayEvent } from '../../src/say/events.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';

async function waitUntil(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('schedules', () => {
  let broker: RunningMosquitto | undefined;
  let hub: InProcessHub | undefined;
  afterEach(async () => {
    await hub?.close();
    await broker?.stop();
    hub = undefined;
    broker = undefined;
  });

  it('says the announcement of a cron that fires every second', async () => {
    broker = await startMosquitto();
    hub = await startInProcessHub({ schedules: [{ cron: '* * * * * *', say: 'Tick tock.' }] }, broker.url);
    const said: SayEvent[] = [];
    hub.hub.events.on('say', (e) => said.push(e));
    await waitUntil(() => said.length >= 2, 'two scheduled says');
    expect(said[0]?.result).toMatchObject({ engine: 'espeak', textChars: 'Tick tock.'.length });
    // The second run is the same text: a cache hit.
    expect(said[1]?.result?.cached).toBe(true);
  });

  it('pre-caches listed phrases, so asking for them later is a cache hit', async () => {
    broker = await startMosquitto();
    const phrases = ['Good morning.', 'The door is open.'];
    hub = await startInProcessHub({ schedules: [{ cron: '* * * * * *', precache: phrases }] }, broker.url);
    const h = hub;
    await waitUntil(() => h.hub.cache.stats().entries >= 2, 'two cached phrases');
    const res = await fetch(`${h.baseUrl}/api/say`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'The door is open.' }),
    });
    expect(await res.json()).toMatchObject({ ok: true, cached: true });
  });

  it('refuses an invalid cron expression when the options are validated, naming the problem', () => {
    expect(() => parseOptions({ schedules: [{ cron: '61 * * * *', say: 'x' }] })).toThrow(
      /schedules\.0\.cron.*minute: 61 is a invalid expression for minute/s,
    );
    expect(() => parseOptions({ schedules: [{ cron: 'every day', say: 'x' }] })).toThrow(
      /expected 5 or 6 fields/,
    );
  });
});
