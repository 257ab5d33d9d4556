/**
 * The say service's public shapes: results, stats, tickets, the service and its collaborators.
 */
import type { OpusEncoderKind } from '../audio/encoder.js';
import type { OutputFormat } from '../audio/format.js';
import type { Deriver } from '../cache/derive.js';
import type { CacheStore } from '../cache/store.js';
import type { ChimeLibrary } from '../chimes/library.js';
import type { Warning } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher } from '../tts/dispatcher.js';
import type { SayAudio } from './audio.js';
import type { LiveJob } from './live-audio.js';
import type { EncoderPool } from './live-encoder.js';
import type { PhraseCache } from './phrases.js';
import type { AudioPreset } from './presets.js';
import type { SayRequest } from './request.js';

/**
 * How a target's end of playback was known: `reported` by the target (Wyoming `played`, Hermes `playFinished`,
 * a media player's state returning to what it was), or `estimated` from the audio's duration.
 */
export type PlayEnd = 'reported' | 'estimated';

/** A target's outcome in a result. */
export interface TargetOutcome {
  name: string;
  /** The group the request named it through. */
  group?: string;
  ok: boolean;
  error?: string;
  /** The target's own audio when its preset made it differ from the result's (another chime, voice, …). */
  url?: string;
  /** With `wait: "all"`: how the end of playback was known. */
  end?: PlayEnd;
  /** With `wait: "all"`: ms from the request to the end of playback on this target. */
  endedMs?: number;
}

/** A target a request plays on, as the playback domain resolved it (groups expanded). */
export interface PlannedTarget {
  name: string;
  group?: string;
  /** The target's audio defaults (empty for addresses). */
  preset: AudioPreset;
}

/** One target's delivery: the audio it gets (its own when its preset differs) once that audio's URL exists. */
export interface Delivery {
  target: PlannedTarget;
  /** Rejects when the target's own audio could not be started (its preset's chime is unknown, …). */
  audio: Promise<SayAudio>;
  /** True when this is the target's own audio, not the result's. */
  variant: boolean;
}

/** A successful say, in the domain's terms; `resultPayload` turns it into the tts/result JSON. */
export interface SayResult {
  id: string;
  textChars: number;
  engine: string;
  voice: string | undefined;
  cached: boolean;
  key: string;
  url: string;
  format: OutputFormat;
  durationMs: number;
  bytes: number;
  /** `firstAudio`: ms from the request to the first encoded Ogg page (the cache lookup on a hit). */
  latencyMs: { total: number; firstAudio: number };
  fallbackFrom: string[];
  /** The endpoint of the instance that spoke, when the engine has several (`engines[].urls`). */
  instance?: string;
  targets?: TargetOutcome[];
  /** With targets: true when every target got the audio. */
  delivered?: boolean;
  /** Served, but something needs fixing (CACHE_DEGRADED: the audio is held in memory, not on disk). */
  warnings?: Warning[];
}

/** Counters since start: requests answered ok or with an error, cache hits and misses, engine runs per engine. */
export interface SayStats {
  ok: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  /** Syntheses started per engine name (every attempt that asked its engine, including failed ones). */
  engineRuns: Record<string, number>;
  /** Requests sent per engine name (one per sentence for engines spoken to sentence by sentence). */
  engineRequests: Record<string, number>;
  /** Sentences taken from the phrase cache instead of an engine. */
  phraseHits: number;
  /** Requests that joined an identical synthesis in flight (single-flight) instead of running their own. */
  sharedRuns: number;
  /** Total latency of the last successful say, in ms. */
  lastLatencyMs: number;
  /**
   * Requests (or targets) dropped because their deadline passed: `queue` before any engine took them,
   * `engine` while an engine was speaking, `target` a target not played because its turn came too late.
   */
  deadlineDrops: { queue: number; engine: number; target: number };
}

/**
 * What a request's targets already got, across restarts (the MQTT request journal keeps it): a replayed
 * request does not play again to a target that has the audio.
 */
export interface DeliveryLedger {
  /** Resolves once the request itself is durable; targets are played only after it. Never rejects. */
  ready: Promise<void>;
  /** True when `target` (a name from the request) already has the audio. */
  delivered(target: string): boolean;
  /** Records that `target` has the audio. */
  record(target: string): void;
  /**
   * Records that `target` has the audio and resolves once that is on disk: called right before a delivery that
   * cannot be taken back (an MQTT publish, a Home Assistant service call), so a crash after it never plays it
   * twice. Never rejects (a failed write is logged).
   */
  commit(target: string): Promise<void>;
  /** Takes back `commit(target)` when the delivery then failed, so a replay tries that target again. */
  forget(target: string): void;
}

/** Per-call options of a say. */
export interface SayOptions {
  /** Targets already served before a restart (MQTT at-least-once); absent: play every target. */
  ledger?: DeliveryLedger;
}

/**
 * Delivers audio to a request's targets (the playback domain); called as soon as the URL exists. Resolves with
 * one outcome per delivery, in order; never rejects for a target's failure.
 */
export type DeliverFn = (
  request: SayRequest,
  deliveries: Delivery[],
  signal: AbortSignal,
  ledger?: DeliveryLedger,
) => Promise<TargetOutcome[]>;

/** A say that has started: its audio URL exists (live while `audio.live`), its result comes with `done`. */
export interface SayTicket {
  id: string;
  /** The engine asked first (a fallback may end up speaking). */
  engine: string;
  audio: SayAudio;
  /** True for a cache hit (the result is final already). */
  cached: boolean;
  /** The final result; rejects with the say's error. */
  done: Promise<SayResult>;
}

/** The one domain service every input calls (DESIGN "Architecture rules"). */
export interface SayService {
  /**
   * Validates names, looks up the cache, joins or starts a live synthesis (dispatch with fallback, encode,
   * cache), delivers to targets, and resolves with the final result.
   * @throws AppError ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, CHIME_NOT_FOUND, CHIME_INVALID,
   *   SHUTTING_DOWN, engine errors when every engine failed, FFMPEG_FAILED, CACHE_IO / DISK_FULL.
   */
  say(request: SayRequest, signal?: AbortSignal, options?: SayOptions): Promise<SayResult>;
  /**
   * Like `say`, but resolves as soon as the audio URL exists (after the cache lookup); `done` gives the result.
   * @throws the checks' errors (ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, CHIME_NOT_FOUND,
   *   CHIME_INVALID, SHUTTING_DOWN) at once.
   */
  begin(request: SayRequest, signal?: AbortSignal, options?: SayOptions): Promise<SayTicket>;
  /** The live synthesis serving `<key>.<format>` (following a fallback's alias), if one runs. */
  liveAudio(key: string, format: OutputFormat): LiveJob | undefined;
  /** The key whose cache entry serves `<key>.<format>`: itself, or the key a fallback engine produced. */
  audioKey(key: string, format: OutputFormat): string;
  /**
   * The pool of pre-started ffmpeg spares (killed by `stop`), for other ffmpeg encodes of the say's audio
   * (the streamed formats of /v1/audio/speech). Absent in fakes.
   */
  readonly encoderPool?: EncoderPool;
  /** Syntheses in flight now. */
  inFlight(): number;
  /** Counters since start. */
  stats(): SayStats;
  /** Stops taking work; waits up to `graceMs` for in-flight says, then aborts them. */
  stop(graceMs?: number): Promise<void>;
}

/** Collaborators of the say service. */
export interface SayServiceDeps {
  dispatcher: Dispatcher;
  cache: CacheStore;
  /** Derives other formats of cached entries. */
  deriver: Deriver;
  /** False when `cache.enabled` is off: nothing is answered from the cache (files are still written to serve). */
  cacheLookups: boolean;
  bitrateKbps: number;
  /** Who makes Ogg Opus (`opus.encoder`); default `inprocess`. */
  opusEncoder?: OpusEncoderKind;
  /** libopus complexity of the in-process encoder (`opus.complexity`); default 5. */
  opusComplexity?: number;
  /** Public URL of a cached audio file. */
  audioUrl(key: string, format: OutputFormat): string;
  /**
   * Resolves a request's target names (groups expanded, each target once) with their audio presets.
   * @throws AppError TARGET_NOT_FOUND. Absent: any target is refused.
   */
  planTargets?(names: string[]): PlannedTarget[];
  /** The audio preset of the named target (`preset` in a request). @throws AppError TARGET_NOT_FOUND. */
  presetOf?(name: string): AudioPreset;
  deliver?: DeliverFn;
  /** Chimes a request can name; absent: any chime is CHIME_NOT_FOUND. */
  chimes?: ChimeLibrary;
  /** Engines whose sentences are normalized to EBU R128 loudness (`engines[].loudnorm`). */
  loudnormEngines?: ReadonlySet<string>;
  /** `default_deadline_s` in ms: the deadline of requests that set no `deadline_s`; default 60 000. */
  defaultDeadlineMs?: number;
  /** Sentence audio reused across texts; default an in-memory cache of PHRASE_CACHE_BYTES. */
  phrases?: PhraseCache;
  log: Log;
}
