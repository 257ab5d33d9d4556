/**
 * Checks a Home Assistant entity before the hub hands it audio, so a result never says `ok` for a player that
 * does not exist, is unavailable or cannot play (Home Assistant itself answers a service call for an unknown
 * entity with `200 []` and for a missing feature with a bare 500).
 * Feature bits after home-assistant/core `homeassistant/components/media_player/const.py`
 * (MediaPlayerEntityFeature) and `homeassistant/components/assist_satellite/const.py`
 * (AssistSatelliteEntityFeature); `GET /api/states/<entity_id>` answers 404 `{"message": "Entity not found."}`
 * for an unknown entity (`homeassistant/components/api/__init__.py`, APIEntityStateView).
 */
import { AppError, isAppError } from '../shared/errors.js';
import type { EntityState, HomeAssistantClient } from './home-assistant.js';

/** MediaPlayerEntityFeature bits the hub relies on. */
export const MEDIA_PLAYER_FEATURES = {
  VOLUME_SET: 4,
  PLAY_MEDIA: 512,
  MEDIA_ANNOUNCE: 1_048_576,
} as const;

/** AssistSatelliteEntityFeature bits the hub relies on. */
export const ASSIST_SATELLITE_FEATURES = { ANNOUNCE: 1 } as const;

/** A feature the hub needs: its bit, and the service or field it is needed for (named in errors). */
export interface RequiredFeature {
  bit: number;
  name: string;
  /** What needs it, e.g. `media_player.play_media`. */
  usedBy: string;
}

/**
 * Reads `entityId`'s state and checks it can take audio.
 * @returns the state (its attributes give e.g. `volume_level`).
 * @throws AppError TARGET_NOT_FOUND (Home Assistant has no such entity), TARGET_UNAVAILABLE (state
 *   `unavailable`), TARGET_UNSUPPORTED (naming each missing feature), SINK_UNREACHABLE / SINK_FAILED (the
 *   state could not be read); the abort reason.
 */
export async function checkEntity(
  ha: HomeAssistantClient,
  entityId: string,
  required: RequiredFeature[],
  signal: AbortSignal,
): Promise<EntityState> {
  let state: EntityState;
  try {
    state = await ha.getState(entityId, signal);
  } catch (err) {
    if (isAppError(err) && err.details?.status === 404) {
      throw new AppError(
        'TARGET_NOT_FOUND',
        `Home Assistant has no entity ${entityId}; check the entity id under Settings → Entities`,
      );
    }
    throw err;
  }
  if (state.state === 'unavailable') {
    throw new AppError(
      'TARGET_UNAVAILABLE',
      `${entityId} is unavailable in Home Assistant (the device is off or not connected)`,
    );
  }
  const raw = state.attributes.supported_features;
  const features = typeof raw === 'number' ? raw : 0;
  const missing = required.filter((f) => (features & f.bit) === 0);
  if (missing.length) {
    const names = missing.map((f) => `${f.name} (for ${f.usedBy})`).join(', ');
    throw new AppError(
      'TARGET_UNSUPPORTED',
      `${entityId} does not support ${names}; its supported_features are ${features}`,
    );
  }
  return state;
}
