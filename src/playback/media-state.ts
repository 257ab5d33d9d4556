/**
 * Knowing when a Home Assistant media player has played our audio. Core's REST API has no "finished" event, but
 * the player's state tells: `play_media` moves it (to `playing`, often through `buffering`, most players with
 * our URL as `media_content_id`), and when the announcement is over it returns to what it was (`idle`, `off`,
 * `paused`, `standby`, or `playing` its music again under the earlier `media_content_id`). States after
 * home-assistant/core `homeassistant/components/media_player/const.py` (MediaPlayerState: off, on, idle,
 * playing, paused, standby, buffering). A player whose state never moves cannot tell; then the end is
 * estimated from the audio's duration.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityState, HomeAssistantClient } from './home-assistant.js';

/** How often the player's state is read while following it, in ms. */
export const STATE_POLL_MS = 250;
/** How long a player may take to show that it started, in ms; after that the end is estimated. */
export const START_WAIT_MS = 5000;
/** How long after the audio's duration a started player may take to return to its earlier state, in ms. */
export const END_GRACE_MS = 15_000;

/** States in which a player is busy with media. */
const BUSY = new Set(['playing', 'buffering']);

function contentId(s: EntityState): unknown {
  return s.attributes.media_content_id;
}

/** True when `now` shows the player busy with our audio (state moved, or our URL is its content). */
export function showsStarted(before: EntityState, now: EntityState, url: string): boolean {
  if (contentId(now) === url && contentId(before) !== url) return true;
  return now.state !== before.state && BUSY.has(now.state);
}

/** True when a player that started is done: back to its earlier state and content, or no longer busy. */
export function showsEnded(before: EntityState, now: EntityState, url: string): boolean {
  if (!BUSY.has(now.state)) return true;
  return now.state === before.state && contentId(now) === contentId(before) && contentId(now) !== url;
}

/**
 * Follows `entityId` after `play_media` of `url` until it has played it. `durationMs()` gives the audio's
 * duration once known (the speech may still be synthesizing). Resolves `reported` when the player showed the
 * start and the end, `estimated` when it never showed a start within START_WAIT_MS (then it waits out the
 * duration from `startedAt`) or never came back within the duration plus END_GRACE_MS.
 * @throws the abort reason; AppError SINK_UNREACHABLE / SINK_FAILED when the state cannot be read.
 */
export async function followPlayback(opts: {
  ha: HomeAssistantClient;
  entityId: string;
  before: EntityState;
  url: string;
  /** performance.now() when play_media was sent. */
  startedAt: number;
  durationMs(): Promise<number>;
  signal: AbortSignal;
}): Promise<'reported' | 'estimated'> {
  const { ha, entityId, before, url, startedAt, signal } = opts;
  let started = false;
  let duration: number | undefined;
  opts.durationMs().then(
    (ms) => {
      duration = ms;
    },
    () => {},
  );
  for (;;) {
    const now = await ha.getState(entityId, signal);
    const elapsed = performance.now() - startedAt;
    if (!started && showsStarted(before, now, url)) started = true;
    else if (started && showsEnded(before, now, url)) return 'reported';
    if (!started && elapsed > START_WAIT_MS) break;
    if (started && duration !== undefined && elapsed > duration + END_GRACE_MS) return 'estimated';
    await sleep(STATE_POLL_MS, undefined, { signal });
  }
  const total = await opts.durationMs();
  const left = startedAt + total - performance.now();
  if (left > 0) await sleep(left, undefined, { signal });
  return 'estimated';
}
