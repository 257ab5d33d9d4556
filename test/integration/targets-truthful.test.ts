/**
 * Truthful results (issue 10): a media player or satellite that does not exist, is unavailable or lacks the
 * feature is a failed target with the reason, checked before anything plays; `delivered` says whether every
 * target got the audio. Home Assistant is the REST stand-in, which answers like Core (200 [] for an unknown
 * entity's service call, a bare 500 for a missing feature).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { type HomeAssistantStandIn, makeState, startHomeAssistant } from '../servers/home-assistant.js';

const TOKEN = 'truthful-token';
const SONOS = 512 | 4 | 1_048_576; // PLAY_MEDIA | VOLUME_SET | MEDIA_ANNOUNCE

describe('truthful target results', () => {
  let ha: HomeAssistantStandIn;
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    ha = await startHomeAssistant({
      token: TOKEN,
      entities: [
        makeState('media_player.good', 'idle', { supported_features: SONOS, volume_level: 0.2 }),
        makeState('media_player.off_wifi', 'unavailable', { supported_features: SONOS }),
        makeState('media_player.tv_remote', 'on', { supported_features: 4 | 8 }), // volume only
        makeState('media_player.cast', 'idle', { supported_features: 512 | 4 }), // no MEDIA_ANNOUNCE
        makeState('assist_satellite.old', 'idle', { supported_features: 0 }),
      ],
    });
    fx = await startHubFixture(
      {
        targets: [
          { name: 'cast_announce', type: 'media_player', entity_id: 'media_player.cast', announce: true },
          { name: 'cast', type: 'media_player', entity_id: 'media_player.cast' },
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

  const say = (id: string, target: string | string[]) =>
    client.say(JSON.stringify({ id, text: 'Truth time.', target }), id);

  it('a media player Home Assistant does not have is a failed target, and nothing is played', async () => {
    ha.calls.length = 0;
    const result = await say('missing-1', 'media_player.does_not_exist');
    expect(result).toMatchObject({
      ok: true,
      delivered: false,
      targets: [
        {
          name: 'media_player.does_not_exist',
          ok: false,
          error: expect.stringMatching(
            /^TARGET_NOT_FOUND: Home Assistant has no entity media_player\.does_not_exist/,
          ),
        },
      ],
    });
    expect(ha.serviceCalls()).toEqual([]);
  });

  it('an unavailable media player is a failed target saying so', async () => {
    const result = await say('unavailable-1', 'media_player.off_wifi');
    expect(result).toMatchObject({
      delivered: false,
      targets: [
        {
          ok: false,
          error: expect.stringMatching(/^TARGET_UNAVAILABLE: media_player\.off_wifi is unavailable/),
        },
      ],
    });
  });

  it('a player without PLAY_MEDIA names the missing feature instead of a bare 500', async () => {
    ha.calls.length = 0;
    const result = await say('unsupported-1', 'media_player.tv_remote');
    const error = (result.targets as Array<{ error: string }>)[0]?.error ?? '';
    expect(error).toMatch(/^TARGET_UNSUPPORTED: media_player\.tv_remote does not support PLAY_MEDIA/);
    expect(error).not.toMatch(/500|trouble/);
    expect(result.delivered).toBe(false);
    expect(ha.serviceCalls()).toEqual([]);
  });

  it('announce: true on a player without MEDIA_ANNOUNCE fails; unset announce plays without it', async () => {
    ha.calls.length = 0;
    const strict = await say('announce-1', 'cast_announce');
    expect((strict.targets as Array<{ error: string }>)[0]?.error).toMatch(
      /MEDIA_ANNOUNCE \(for announce: true\)/,
    );
    const relaxed = await say('announce-2', 'cast');
    expect(relaxed).toMatchObject({ delivered: true, targets: [{ name: 'cast', ok: true }] });
    expect(ha.serviceCalls()).toEqual([
      {
        service: 'media_player/play_media',
        data: expect.objectContaining({ entity_id: 'media_player.cast', announce: false }),
      },
    ]);
  });

  it('an assist satellite without ANNOUNCE is a failed target', async () => {
    const result = await say('sat-1', 'assist_satellite.old');
    expect((result.targets as Array<{ error: string }>)[0]?.error).toMatch(
      /^TARGET_UNSUPPORTED: assist_satellite\.old does not support ANNOUNCE/,
    );
  });

  it('delivered is false when one of two targets failed, true when all played, absent without targets', async () => {
    const mixed = await say('mixed-1', ['media_player.good', 'media_player.does_not_exist']);
    expect(mixed).toMatchObject({
      ok: true,
      delivered: false,
      targets: [
        { name: 'media_player.good', ok: true },
        { name: 'media_player.does_not_exist', ok: false },
      ],
    });
    const all = await say('all-1', 'media_player.good');
    expect(all).toMatchObject({ delivered: true });
    const none = await client.say(JSON.stringify({ id: 'none-1', text: 'Nobody listens.' }), 'none-1');
    expect(none.ok).toBe(true);
    expect('delivered' in none).toBe(false);
  });
});
