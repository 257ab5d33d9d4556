/**
 * Home Assistant assist satellites (Voice PE, ESPHome and linux-voice-assistant satellites):
 * `assist_satellite.announce` with `{entity_id, media_id, preannounce?}`, fields after home-assistant/core
 * `homeassistant/components/assist_satellite/services.yaml` (announce: message, media_id, preannounce,
 * preannounce_media_id). Home Assistant answers when the announcement is done or after 10 s (REST API),
 * so the target stays busy for the rest of the audio's duration as well.
 */
import { ASSIST_SATELLITE_FEATURES, checkEntity } from '../entity-check.js';
import { formatFor, holdForDuration, type SinkFactory } from '../sink.js';
import { requireHomeAssistant, startPlaying } from './media-player.js';

/** Builds an assist_satellite sink. */
export const createAssistSatelliteSink: SinkFactory = (spec, deps) => ({
  type: 'assist_satellite',
  async play(audio, ctx, signal) {
    const ha = requireHomeAssistant(deps.homeAssistant, spec.name);
    const entityId = spec.entityId as string;
    await checkEntity(
      ha,
      entityId,
      [{ bit: ASSIST_SATELLITE_FEATURES.ANNOUNCE, name: 'ANNOUNCE', usedBy: 'assist_satellite.announce' }],
      signal,
    );
    const media = await audio.as(formatFor(spec, ctx), signal);
    const data = {
      entity_id: entityId,
      media_id: media.url,
      ...(spec.preannounce === undefined ? {} : { preannounce: spec.preannounce }),
    };
    const call = { domain: 'assist_satellite', service: 'announce', data };
    const startedAt = await startPlaying(ha, ctx, call, signal);
    const final = await media.ready(signal);
    await holdForDuration(startedAt, final.durationMs, signal);
    return 'estimated';
  },
});
