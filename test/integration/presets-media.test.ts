/**
 * Issue 18, speaker presets on a media player through the Supervisor + Core REST stand-in
 * (test/servers/home-assistant.ts), with real espeak-ng and ffmpeg: a named target's preset gives requests its
 * format, media_content_type, volume, announce, chime and lead-in; a request overrides each of them; `preset`
 * applies a target's sound without playing on it; `wait: "all"` follows the player's state until it returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { type HomeAssistantStandIn, makeState, startHomeAssistant } from '../servers/home-assistant.js';

const TOKEN = 'supervisor-token-for-presets';
const TEXT = 'The dishwasher has finished.';
type Json = Record<string, unknown>;

describe('speaker presets on a media player', () => {
  let ha: HomeAssistantStandIn;
  let fx: HubFixture;
  let client: SayClient;
  let plainMs = 0;
  let dingMs = 0;

  const say = async (body: Json): Promise<Json> =>
    (await client.say(JSON.stringify(body), body.id as string, 60_000)) as Json;

  beforeAll(async () => {
    ha = await startHomeAssistant({
      token: TOKEN,
      entities: [
        makeState('media_player.office', 'idle', { volume_level: 0.35, supported_features: 1049092 }),
      ],
      playMs: { 'media_player.office': 1500 },
    });
    fx = await startHubFixture(
      {
        targets: [
          {
            name: 'office',
            type: 'media_player',
            entity_id: 'media_player.office',
            format: 'mp3',
            media_content_type: 'music',
            volume: 0.5,
            announce: false,
            chime: 'ding',
            lead_in_ms: 200,
            engine: 'espeak',
          },
        ],
      },
      { lanAddress: true, supervisor: { url: ha.url, token: TOKEN } },
    );
    client = fx.client;
    plainMs = (await say({ id: 'plain', text: TEXT })).duration_ms as number;
    const chimes = (await (await fetch(`${fx.url}/api/chimes`)).json()) as {
      chimes: Array<{ name: string; duration_ms: number }>;
    };
    dingMs = chimes.chimes.find((c) => c.name === 'ding')?.duration_ms ?? 0;
  });
  afterAll(async () => {
    await fx?.close();
    await ha?.stop();
  });

  it("plays with the target's preset and follows the player until it is done", async () => {
    ha.calls.length = 0;
    const result = await say({ id: 'p-1', text: TEXT, target: 'office', wait: 'all' });
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'office', ok: true, end: 'reported' }] });
    // The result's audio is the target's: ding + 200 ms lead-in + speech.
    expect(Math.abs((result.duration_ms as number) - (dingMs + 200 + plainMs))).toBeLessThanOrEqual(50);
    const calls = ha.serviceCalls();
    expect(calls.map((c) => c.service)).toEqual([
      'media_player/volume_set',
      'media_player/play_media',
      'media_player/volume_set',
    ]);
    expect(calls[0]?.data).toEqual({ entity_id: 'media_player.office', volume_level: 0.5 });
    expect(calls[1]?.data).toMatchObject({ media_content_type: 'music', announce: false });
    expect(calls[1]?.data?.media_content_id).toMatch(/\.mp3$/);
    expect(calls[2]?.data).toEqual({ entity_id: 'media_player.office', volume_level: 0.35 });
    // The end came from the player's state (back to idle after 1.5 s), polled while it played.
    const ended = (result.targets as Json[])[0]?.ended_ms as number;
    expect(ended).toBeGreaterThanOrEqual(1500);
    // Sooner than the audio's length: it was reported, not estimated from the duration.
    expect(ended).toBeLessThan(result.duration_ms as number);
    const polls = ha.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/media_player.office'));
    expect(polls.length).toBeGreaterThan(2);
  });

  it('lets the request override every preset field', async () => {
    ha.calls.length = 0;
    const result = await say({
      id: 'p-2',
      text: TEXT,
      target: 'office',
      format: 'opus',
      media_content_type: 'audio/ogg',
      announce: true,
      volume: 0.2,
      chime: 'none',
      lead_in_ms: 0,
    });
    expect(result).toMatchObject({ ok: true, format: 'opus', targets: [{ name: 'office', ok: true }] });
    expect((result.targets as Json[])[0]).not.toHaveProperty('end');
    expect(Math.abs((result.duration_ms as number) - plainMs)).toBeLessThanOrEqual(50);
    const calls = ha.serviceCalls();
    expect(calls[0]?.data).toEqual({ entity_id: 'media_player.office', volume_level: 0.2 });
    expect(calls[1]?.data).toMatchObject({ media_content_type: 'audio/ogg', announce: true });
    expect(calls[1]?.data?.media_content_id).toMatch(/\.opus$/);
  });

  it("applies a target's sound with `preset` without playing on it", async () => {
    // The target's sound, made by playing on it (to its end, so no call of it comes late): the preset reuses it.
    const played = await say({ id: 'p-3-target', text: TEXT, target: 'office', wait: 'all' });
    expect(played).toMatchObject({ ok: true });
    ha.calls.length = 0;
    const result = await say({ id: 'p-3', text: TEXT, preset: 'office' });
    expect(result).toMatchObject({ ok: true, cached: true });
    expect(result).not.toHaveProperty('targets');
    expect(Math.abs((result.duration_ms as number) - (dingMs + 200 + plainMs))).toBeLessThanOrEqual(50);
    expect(ha.serviceCalls()).toEqual([]);
    const unknown = await say({ id: 'p-4', text: TEXT, preset: 'garage' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'TARGET_NOT_FOUND' } });
  });
});
