/**
 * The say service's public shapes: results, stats, tickets, the service and its collaborators.
 */
import type { OutputFormat } from '../audio/format.js';
import type { Deriver } from '../cache/derive.js';
import type { CacheStore } from '../cache/store.js';
import type { Warning } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher } from './dispatcher.js';
import type { LiveJob } from './live-audio.js';
import type { PhraseCache } from './phrases.js';
import type { SayAudio } from './say-audio.js';
import type { SayRequest } from './say-request.js';

/** A target's outcome in a result. */
export interface TargetOutcome {
  name: string;
  ok: boolean;
  error?: string;
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

/** Delivers audio to a request's targets (the playback domain); called as soon as the URL exists. */
export type DeliverFn = (
  request: SayRequest,
  audio: SayAudio,
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
   * @throws AppError ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, SHUTTING_DOWN, engine errors when
   *   every engine failed, FFMPEG_FAILED, CACHE_IO / DISK_FULL.
   */
  say(request: SayRequest, signal?: AbortSignal, options?: SayOptions): Promise<SayResult>;
  /**
   * Like `say`, but resolves as soon as the audio URL exists (after the cache lookup); `done` gives the result.
   * @throws the checks' errors (ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, SHUTTING_DOWN) at once.
   */
  begin(request: SayRequest, signal?: AbortSignal, options?: SayOptions): Promise<SayTicket>;
  /** The live synthesis serving `<key>.<format>` (following a fallback's alias), if one runs. */
  liveAudio(key: string, format: OutputFormat): LiveJob | undefined;
  /** The key whose cache entry serves `<key>.<format>`: itself, or the key a fallback engine produced. */
  audioKey(key: string, format: OutputFormat): string;
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
  /** Public URL of a cached audio file. */
  audioUrl(key: string, format: OutputFormat): string;
  /** Checks target names; throws TARGET_NOT_FOUND. Absent: any target is refused. */
  checkTargets?(names: string[]): void;
  deliver?: DeliverFn;
  /** Engines whose sentences are normalized to EBU R128 loudness (`engines[].loudnorm`). */
  loudnormEngines?: ReadonlySet<string>;
  /** Sentence audio reused across texts; default an in-memory cache of PHRASE_CACHE_BYTES. */
  phrases?: PhraseCache;
  log: Log;
}
