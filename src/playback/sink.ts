/**
 * The sink interface: one implementation per target kind under `sinks/`, each playing finished audio to one
 * target. Sinks that publish on MQTT get a `publish` function from the composition root (domains never
 * import the mqtt package; DESIGN "Architecture rules").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutputFormat } from '../audio/format.js';
import type { PlayEnd, SayAudio } from '../say/service.js';
import type { Log } from '../shared/log.js';
import type { HomeAssistantClient } from './home-assistant.js';
import type { PlayFinishedWaiters } from './play-finished.js';
import type { TargetSpec, TargetType } from './targets.js';

/** Publishes an MQTT message; resolves once handed to the broker (QoS 1: acknowledged). */
export type PublishFn = (
  topic: string,
  payload: string | Buffer,
  opts?: { qos?: 0 | 1 | 2; retain?: boolean },
) => Promise<void>;

/** What a sink needs to know about the request besides the audio. */
export interface PlayContext {
  /** The request id (Hermes request ids and MQTT payloads carry it). */
  id: string;
  text: string;
  /** The request's format: what a target without its own `format` receives. */
  format: OutputFormat;
  /** True when the request named its format: it then wins over the target's `format`. */
  formatGiven: boolean;
  /** 0–1 from the request; overrides the target's `volume`. */
  volume?: number | undefined;
  /** media_player `announce` from the request; overrides the target's. */
  announce?: boolean | undefined;
  /** media_player `media_content_type` from the request; overrides the target's. */
  mediaContentType?: string | undefined;
  /** `wait: "all"`: follow the target until it reports the end of playback where it can (media players). */
  waitAll: boolean;
  /**
   * Called by the sink as soon as the target has taken the audio (a player accepted the URL, a speaker got the
   * last chunk), before waiting for it to finish: from then on a replay of the request does not play it again.
   */
  accepted?: () => void;
  /**
   * For a delivery that is all or nothing (an MQTT publish, a Home Assistant service call): await it right
   * before making the delivery. It durably records the target as served first, so a hub killed during the
   * delivery does not play it again when the request is replayed (at most once per target through a crash;
   * the window in which a crash loses the play is the few microseconds between the record and the send).
   * If the delivery then fails, the record is taken back.
   */
  claim?: () => Promise<void>;
}

/** The format `spec` receives for `ctx`: the request's when it named one, else the target's, else the request's. */
export function formatFor(spec: TargetSpec, ctx: PlayContext): OutputFormat {
  return ctx.formatGiven ? ctx.format : (spec.format ?? ctx.format);
}

/** Plays audio to one target. */
export interface Sink {
  readonly type: TargetType;
  /**
   * Plays `audio` and resolves when the target has finished with it (or, for targets that report nothing,
   * after the audio's duration), so a target's queue never overlaps speech; with how the end was known
   * (`reported` by the target, or `estimated`; undefined means estimated). `audio` may still be live (no file
   * yet, its URL streams as the engine speaks): URL targets get the URL at once, PCM targets wait for
   * `audio.ready()`.
   * Aborting `signal` stops waiting (and, where the protocol allows, the playback) and rejects with its reason.
   * @throws AppError SINK_UNREACHABLE (cannot reach the target), SINK_FAILED (it refused or broke off),
   *   FFMPEG_FAILED (decoding for PCM targets), CACHE_IO (format derivation).
   */
  play(audio: SayAudio, ctx: PlayContext, signal: AbortSignal): Promise<PlayEnd | undefined>;
}

/** Collaborators every sink factory may use. */
export interface SinkDeps {
  /** Home Assistant Core through the Supervisor; undefined outside the add-on without a token. */
  homeAssistant: HomeAssistantClient | undefined;
  publish: PublishFn;
  /** Hermes `playFinished` notifications, fed by the MQTT adapter. */
  playFinished: PlayFinishedWaiters;
  log: Log;
}

/** Builds the sink of one resolved target. */
export type SinkFactory = (spec: TargetSpec, deps: SinkDeps) => Sink;

/** Extra time a URL player gets beyond the audio's duration to fetch and start it, in ms. */
export const PLAYER_START_MARGIN_MS = 500;

/**
 * Waits until `durationMs` (plus PLAYER_START_MARGIN_MS) have passed since `startedAt` (a `performance.now()`
 * value): players that fetch a URL report no end, so the target stays busy for the audio's length.
 * @throws the abort reason when `signal` aborts.
 */
export async function holdForDuration(
  startedAt: number,
  durationMs: number,
  signal: AbortSignal,
): Promise<void> {
  const left = startedAt + durationMs + PLAYER_START_MARGIN_MS - performance.now();
  if (left > 0) await sleep(left, undefined, { signal });
}
