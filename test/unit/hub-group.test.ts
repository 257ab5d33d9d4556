/**
 * Pieces of the share group (issue 15) that are pure or file-only: per-hub topics, the rendezvous choice the
 * hubs agree on, the discovery payloads of a hub's device and of the group's service device, one firing of a
 * schedule across hubs, the recordings registry, and the option checks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import {
  buildDevicePayload,
  buildServicePayload,
  type DiscoveryContext,
  groupDeviceId,
  listedAvailability,
} from '../../src/mqtt/discovery.js';
import { hubTopics, rendezvous } from '../../src/mqtt/hub-peers.js';
import { openInRegistry } from '../../src/recorder/owner-registry.js';
import type { SayService } from '../../src/say/service.js';
import { claimFiring, createSchedules } from '../../src/schedules/schedule-adapter.js';
import { silentLog } from '../../src/shared/log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('share group', () => {
  it('puts availability and status under the client id in a group only', () => {
    const topics = { availability: 'tts/availability', status: 'tts/status' };
    expect(hubTopics(topics, 'hub_a', '')).toMatchObject(topics);
    const group = hubTopics(topics, 'hub_a', 'house');
    expect(group).toMatchObject({ availability: 'tts/availability/hub_a', status: 'tts/status/hub_a' });
    expect(group.availabilityOf('hub_b')).toBe('tts/availability/hub_b');
  });

  it('rendezvous: every hub picks the same owner, and only the keys of a hub that leaves move', () => {
    const hubs = ['hub_a', 'hub_b', 'hub_c'];
    const keys = Array.from({ length: 300 }, (_, i) => `recorder:dev${i}`);
    const before = new Map(keys.map((k) => [k, rendezvous(k, hubs)]));
    expect(new Set(before.values())).toEqual(new Set(hubs)); // spread over all three
    expect(rendezvous('recorder:dev1', [...hubs].reverse())).toBe(before.get('recorder:dev1'));
    for (const k of keys) {
      const after = rendezvous(k, ['hub_a', 'hub_c']);
      if (before.get(k) !== 'hub_b') expect(after).toBe(before.get(k));
    }
    expect(rendezvous('x', [])).toBeUndefined();
  });

  it("discovery: a hub's device keeps its own sensors; the service device has notify, button and recorder, available while any hub is", () => {
    const ctx: DiscoveryContext = {
      prefix: 'homeassistant',
      deviceId: 'hub_a',
      version: '1.0.0',
      topics: {
        status: 'tts/status/hub_a',
        availability: 'tts/availability/hub_a',
        recorder: 'recorder',
        notify: 'tts/notify',
        clearCache: 'tts/cache/clear',
      },
      engines: ['espeak'],
      recorderDevices: ['porch'],
      group: {
        id: groupDeviceId('house'),
        name: 'house',
        availabilityTopics: ['tts/availability/hub_a', 'tts/availability/hub_b'],
      },
    };
    const hub = buildDevicePayload(ctx, new Map());
    expect(Object.keys(hub.cmps)).toEqual(
      expect.arrayContaining(['cache_size', 'queue_depth', 'engine_espeak', 'cache_degraded']),
    );
    for (const gone of ['say', 'clear_cache', 'rec_porch_state', 'recordings_size']) {
      expect(hub.cmps[gone]).toBeUndefined();
    }
    expect(hub.dev).toMatchObject({
      ids: ['hub_a'],
      name: 'TTS Hub hub_a',
      via_device: 'tts_hub_group_house',
    });
    expect(hub.cmps.cache_size).toMatchObject({
      availability_topic: 'tts/availability/hub_a',
      state_topic: 'tts/status/hub_a',
    });

    const service = buildServicePayload(ctx, new Map());
    expect(Object.keys(service?.cmps ?? {}).sort()).toEqual(
      ['clear_cache', 'disk_free', 'rec_porch_size', 'rec_porch_state', 'recordings_size', 'say'].sort(),
    );
    expect(service?.cmps.say).toMatchObject({
      p: 'notify',
      unique_id: 'tts_hub_group_house_say',
      command_topic: 'tts/notify',
      availability: [{ topic: 'tts/availability/hub_a' }, { topic: 'tts/availability/hub_b' }],
      availability_mode: 'any',
    });
    expect(service?.cmps.say?.availability_topic).toBeUndefined(); // Home Assistant refuses both
    expect(listedAvailability(service)).toEqual(['tts/availability/hub_a', 'tts/availability/hub_b']);
    expect(buildServicePayload({ ...ctx, group: undefined }, new Map())).toBeUndefined();
  });

  it('a schedule firing is claimed by one hub only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-claims-'));
    dirs.push(dir);
    const at = new Date('2026-01-05T08:00:00.000Z');
    const claims = await Promise.all(
      Array.from({ length: 5 }, () => claimFiring(join(dir, 'schedules'), 0, at, silentLog())),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await claimFiring(join(dir, 'schedules'), 1, at, silentLog())).toBe(true); // another schedule
    expect(await claimFiring(join(dir, 'schedules'), 0, new Date(at.getTime() + 60_000), silentLog())).toBe(
      true,
    );
  });

  it('two hubs with the same every-second schedule: each firing is spoken once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-claims-'));
    dirs.push(dir);
    const said: string[] = [];
    const say = {
      say: async (request: { id: string }) => {
        said.push(request.id);
        return { id: request.id, cached: true };
      },
    } as unknown as SayService;
    const hubs = [0, 1].map(() =>
      createSchedules({
        schedules: [{ cron: '* * * * * *', say: 'Tick.' }],
        say,
        maxTextChars: 100,
        claimDir: join(dir, 'schedules'),
        log: silentLog(),
      }),
    );
    const t0 = Date.now();
    for (const h of hubs) h.start();
    await new Promise((r) => setTimeout(r, 2600)); // lets ticks pass: the count proves each second said once, not twice
    for (const h of hubs) h.stop();
    const seconds = Math.floor((Date.now() - t0) / 1000);
    expect(said.length).toBeGreaterThanOrEqual(seconds - 1);
    expect(said.length).toBeLessThanOrEqual(seconds + 1);
    expect(said.length).toBeGreaterThan(0);
  });

  it('the recordings registry lists what is opened and not closed', () => {
    expect([...openInRegistry('+porch/2026-01-01/a\n+porch/2026-01-01/b\n-porch/2026-01-01/a\n')]).toEqual([
      'porch/2026-01-01/b',
    ]);
  });

  it('a group needs client ids that can name a hub in topics and paths', () => {
    expect(() => parseOptions({ mqtt: { share_group: 'house', client_id: 'a/b' } })).toThrow(
      /mqtt.client_id/,
    );
    expect(() => parseOptions({ mqtt: { share_group: 'ho use' } })).toThrow(/share_group/);
    expect(parseOptions({ mqtt: { share_group: 'house', client_id: 'hub_a' } }).mqtt).toMatchObject({
      share_group: 'house',
      takeover_s: 10,
      max_attempts: 3,
      keepalive_s: 20,
    });
  });
});
