/**
 * Schedules from the options on real parts (mosquitto, espeak-ng, ffmpeg): a cron every second says something
 * through the say service; a precache schedule fills the cache with its phrases; a bad cron expression fails
 * option validation with the field and the problem.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import type { SayEvent } from '../../src/say/events.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';

describe('schedules', () => {
  let fx: HubFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('says the announcement of a cron that fires every second', async () => {
    fx = await startHubFixture({ schedules: [{ cron: '* * * * * *', say: 'Tick tock.' }] });
    const said: SayEvent[] = [];
    fx.hub.events.on('say', (e) => said.push(e));
    await expect.poll(() => said.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    expect(said[0]?.result).toMatchObject({ engine: 'espeak', textChars: 'Tick tock.'.length });
    // The second run is the same text: a cache hit.
    expect(said[1]?.result?.cached).toBe(true);
  });

  it('pre-caches listed phrases, so asking for them later is a cache hit', async () => {
    const phrases = ['Good morning.', 'The door is open.'];
    const h = await startHubFixture({ schedules: [{ cron: '* * * * * *', precache: phrases }] });
    fx = h;
    await expect.poll(() => h.hub.cache.stats().entries, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const res = await fetch(`${h.url}/api/say`, {
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
