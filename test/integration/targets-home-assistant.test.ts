/**
 * Targets through Home Assistant: media players (with volume set and restored) and assist satellites, over the
 * Supervisor + Core REST stand-in (test/servers/home-assistant.ts). Checks the exact service calls with the
 * bearer token, that players get a LAN URL (never 127.0.0.1), and that the URL serves decodable audio of the
 * reported length (real ffprobe).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { type HomeAssistantStandIn, makeState, startHomeAssistant } from '../servers/home-assistant.js';

const TOKEN = 'supervisor-token-for-tests';

describe('media_player and assist_satellite targets', () => {
  let ha: HomeAssistantStandIn;
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    ha = await startHomeAssistant({
      token: TOKEN,
      entities: [
        // Sonos-style players: PLAY_MEDIA | VOLUME_SET | MEDIA_ANNOUNCE; a Voice PE satellite: ANNOUNCE.
        makeState('media_player.living_room', 'idle', { volume_level: 0.25, supported_features: 1049092 }),
        makeState('media_player.kitchen', 'idle', { volume_level: 0.3, supported_features: 1049092 }),
        makeState('assist_satellite.hall', 'idle', { supported_features: 1 }),
      ],
    });
    fx = await startHubFixture(
      {
        targets: [
          { name: 'sonos', type: 'media_player', entity_id: 'media_player.living_room', format: 'mp3' },
          { name: 'kitchen', type: 'media_player', entity_id: 'media_player.kitchen', volume: 0.6 },
          {
            name: 'hall',
            type: 'assist_satellite',
            entity_id: 'assist_satellite.hall',
            format: 'mp3',
            preannounce: false,
          },
        ],
      },
      { lanAddress: true, supervisor: { url: ha.url, token: TOKEN } },
    );
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    await ha?.stop();
  });

  const playable = async (url: string, codec: string, durationMs: number): Promise<void> => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const probe = await ffprobe(Buffer.from(await res.arrayBuffer()));
    expect(probe.codec).toBe(codec);
    expect(Math.abs(probe.durationMs - durationMs)).toBeLessThan(150);
  };

  it('plays mp3 on a Sonos-style media player through play_media with announce and a LAN URL', async () => {
    ha.calls.length = 0;
    const result = await client.say(
      JSON.stringify({ id: 'sonos-1', text: 'Dinner is ready.', target: 'sonos' }),
      'sonos-1',
    );
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'sonos', ok: true }] });
    const calls = ha.serviceCalls();
    expect(calls).toHaveLength(1);
    const url = calls[0]?.data?.media_content_id as string;
    expect(calls[0]).toEqual({
      service: 'media_player/play_media',
      data: {
        entity_id: 'media_player.living_room',
        media_content_id: url,
        media_content_type: 'audio/mpeg',
        announce: true,
      },
    });
    expect(ha.calls.every((c) => c.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(url).toMatch(/^http:\/\/[\d.]+:\d+\/api\/audio\/[0-9a-f]{64}\.mp3$/);
    expect(new URL(url).hostname).not.toBe('127.0.0.1');
    expect(url.startsWith(fx.hub.baseUrl)).toBe(true);
    await playable(url, 'mp3', result.duration_ms as number);
  });

  it('reads the volume, sets the target volume, plays, and restores the volume after the speech', async () => {
    ha.calls.length = 0;
    const result = await client.say(
      JSON.stringify({ id: 'vol-1', text: 'The laundry is done.', target: 'kitchen' }),
      'vol-1',
    );
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'kitchen', ok: true }] });
    expect(ha.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /core/api/states/media_player.kitchen',
      'POST /core/api/services/media_player/volume_set',
      'POST /core/api/services/media_player/play_media',
      'POST /core/api/services/media_player/volume_set',
    ]);
    const [, setVolume, play, restore] = ha.calls;
    expect(setVolume?.body).toEqual({ entity_id: 'media_player.kitchen', volume_level: 0.6 });
    expect(play?.body).toMatchObject({
      entity_id: 'media_player.kitchen',
      media_content_type: 'audio/ogg',
      announce: true,
    });
    expect(restore?.body).toEqual({ entity_id: 'media_player.kitchen', volume_level: 0.3 });
    expect(ha.states.get('media_player.kitchen')?.attributes.volume_level).toBe(0.3);
    await playable(play?.body?.media_content_id as string, 'opus', result.duration_ms as number);
  });

  it('takes an ad-hoc entity id with the request volume', async () => {
    ha.calls.length = 0;
    const body = {
      id: 'adhoc-1',
      text: 'Hello.',
      target: 'media_player.living_room',
      volume: 0.9,
      format: 'wav',
    };
    const result = await client.say(JSON.stringify(body), 'adhoc-1');
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'media_player.living_room', ok: true }] });
    expect(
      ha.serviceCalls().map((c) => [c.service, c.data?.volume_level ?? c.data?.media_content_type]),
    ).toEqual([
      ['media_player/volume_set', 0.9],
      ['media_player/play_media', 'audio/wav'],
      ['media_player/volume_set', 0.25],
    ]);
  });

  it('announces on an assist satellite with media_id and preannounce', async () => {
    ha.calls.length = 0;
    const result = await client.say(
      JSON.stringify({ id: 'sat-1', text: 'Someone is at the door.', target: 'hall' }),
      'sat-1',
    );
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'hall', ok: true }] });
    const calls = ha.serviceCalls();
    const url = calls[0]?.data?.media_id as string;
    expect(calls).toEqual([
      {
        service: 'assist_satellite/announce',
        data: { entity_id: 'assist_satellite.hall', media_id: url, preannounce: false },
      },
    ]);
    expect(new URL(url).hostname).not.toBe('127.0.0.1');
    await playable(url, 'mp3', result.duration_ms as number);
  });

  it('refuses an unknown target name before synthesizing', async () => {
    const result = await client.say(
      JSON.stringify({ id: 'nope-1', text: 'Hi.', target: 'garage' }),
      'nope-1',
    );
    expect(result).toMatchObject({ ok: false, error: { code: 'TARGET_NOT_FOUND' } });
    expect((result.error as { message: string }).message).toContain('sonos, kitchen, hall');
  });
});
