/**
 * Home Assistant media players (Sonos, Cast, ESPHome and linux-voice-assistant satellites…):
 * `media_player.play_media` with `{entity_id, media_content_id, media_content_type, announce}`, and with a
 * volume: read `volume_level` from the player's state, `media_player.volume_set`, speak, restore it after the
 * audio's duration. Service fields after home-assistant/core `homeassistant/components/media_player/services.yaml`
 * (play_media: media_content_id, media_content_type, enqueue, announce, extra; volume_set: volume_level 0–1).
 * media_content_type defaults to the format's MIME type: Cast hands it to the receiver as the content type;
 * announce-capable players (Sonos, ESPHome) ignore it; set `media_content_type: music` where a player wants that.
 * A request's `format`, `media_content_type`, `announce` and `volume` win over the target's. With `wait: "all"`
 * the player's state is followed until it has played the audio (media-state.ts); otherwise the target is held
 * for the audio's duration.
 */
import { CONTENT_TYPES } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import { checkEntity, MEDIA_PLAYER_FEATURES, type RequiredFeature } from '../entity-check.js';
import type { HomeAssistantClient } from '../home-assistant.js';
import { HA_CALL_TIMEOUT_MS } from '../home-assistant.js';
import { followPlayback } from '../media-state.js';
import { formatFor, holdForDuration, type PlayContext, type SinkFactory } from '../sink.js';

/** The Home Assistant client, or a SINK_UNREACHABLE error saying why there is none. */
export function requireHomeAssistant(
  client: HomeAssistantClient | undefined,
  target: string,
): HomeAssistantClient {
  if (client) return client;
  throw new AppError(
    'SINK_UNREACHABLE',
    `target '${target}' needs Home Assistant, but no Supervisor token is set (SUPERVISOR_TOKEN); run as the add-on with homeassistant_api`,
  );
}

/**
 * Claims the delivery in its ledger (`ctx.claim`), calls the Home Assistant service `domain.service` with
 * `data` that starts the audio, and marks the delivery accepted once Home Assistant answered.
 * Resolves to `performance.now()` (ms) taken just before the call: when the audio starts.
 * @throws the claim's or the call's error (AppError SINK_UNREACHABLE, SINK_FAILED…), or the abort reason.
 */
export async function startPlaying(
  ha: HomeAssistantClient,
  ctx: PlayContext,
  call: { domain: string; service: string; data: Record<string, unknown> },
  signal: AbortSignal,
): Promise<number> {
  await ctx.claim?.();
  const startedAt = performance.now();
  await ha.callService(call.domain, call.service, call.data, signal);
  ctx.accepted?.();
  return startedAt;
}

/** Builds a media_player sink. */
export const createMediaPlayerSink: SinkFactory = (spec, deps) => ({
  type: 'media_player',
  async play(audio, ctx, signal) {
    const ha = requireHomeAssistant(deps.homeAssistant, spec.name);
    const entityId = spec.entityId as string;
    const volume = ctx.volume ?? spec.volume;
    const announce = ctx.announce ?? spec.announce;
    const required: RequiredFeature[] = [
      { bit: MEDIA_PLAYER_FEATURES.PLAY_MEDIA, name: 'PLAY_MEDIA', usedBy: 'media_player.play_media' },
    ];
    if (announce === true) {
      required.push({
        bit: MEDIA_PLAYER_FEATURES.MEDIA_ANNOUNCE,
        name: 'MEDIA_ANNOUNCE',
        usedBy: 'announce: true',
      });
    }
    if (volume !== undefined) {
      required.push({ bit: MEDIA_PLAYER_FEATURES.VOLUME_SET, name: 'VOLUME_SET', usedBy: 'volume' });
    }
    // Before anything plays: a missing, unavailable or unable player is a failed target with the reason.
    const state = await checkEntity(ha, entityId, required, signal);
    const media = await audio.as(formatFor(spec, ctx), signal);
    let restore: number | undefined;
    if (volume !== undefined) {
      const level = state.attributes.volume_level;
      restore = typeof level === 'number' ? level : undefined;
      await ha.callService(
        'media_player',
        'volume_set',
        { entity_id: entityId, volume_level: volume },
        signal,
      );
    }
    try {
      const data = {
        entity_id: entityId,
        media_content_id: media.url,
        media_content_type: ctx.mediaContentType ?? spec.mediaContentType ?? CONTENT_TYPES[media.format],
        announce: announce ?? announces(state.attributes.supported_features),
      };
      const startedAt = await startPlaying(
        ha,
        ctx,
        { domain: 'media_player', service: 'play_media', data },
        signal,
      );
      const durationMs = async (): Promise<number> => (await media.ready(signal)).durationMs;
      if (ctx.waitAll) {
        const before = state;
        return await followPlayback({ ha, entityId, before, url: media.url, startedAt, durationMs, signal });
      }
      // A live URL streams while the engine speaks; the speaker is busy until the whole speech has played.
      await holdForDuration(startedAt, await durationMs(), signal);
      return 'estimated';
    } finally {
      if (restore !== undefined) {
        // Restore even when interrupted: the next delivery on this queue starts only after this settles.
        await ha
          .callService(
            'media_player',
            'volume_set',
            { entity_id: entityId, volume_level: restore },
            AbortSignal.timeout(HA_CALL_TIMEOUT_MS),
          )
          .catch((err: unknown) =>
            deps.log.warn({ target: spec.name, err: (err as Error).message }, 'volume restore failed'),
          );
      }
    }
  },
});

/** True when a player's `supported_features` include MEDIA_ANNOUNCE. */
function announces(features: unknown): boolean {
  return typeof features === 'number' && (features & MEDIA_PLAYER_FEATURES.MEDIA_ANNOUNCE) !== 0;
}
