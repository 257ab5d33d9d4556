import { performance } from 'node:perf_hooks';
import type { AudioFormat } from '../audio/format.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import type { Deriver } from '../cache/derive.js';
import type { CacheEntry, CacheStore } from '../cache/store.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Dispatcher, EngineEntry } from './dispatcher.js';
import { createLiveRegistry, type LiveJob } from './live-audio.js';
import { createEncoderPool } from './live-encoder.js';
import { createPhraseCache, type PhraseCache } from './phrases.js';
import { finalAudio, liveAudio, type SayAudio, type SayAudioDeps, untilAborted } from './say-audio.js';
import { type AttemptDeps, attemptVoice, type Produced, replayEntry, runAttempt } from './say-job.js';
import type { SayRequest } from './say-request.js';

export type { SayAudio } from './say-audio.js';

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

/** Delivers audio to a request's targets (the playback domain); called as soon as the URL exists. */
export type DeliverFn = (
  request: SayRequest,
  audio: SayAudio,
  signal: AbortSignal,
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
  say(request: SayRequest, signal?: AbortSignal): Promise<SayResult>;
  /**
   * Like `say`, but resolves as soon as the audio URL exists (after the cache lookup); `done` gives the result.
   * @throws the checks' errors (ENGINE_NOT_FOUND, VOICE_NOT_FOUND, TARGET_NOT_FOUND, SHUTTING_DOWN) at once.
   */
  begin(request: SayRequest, signal?: AbortSignal): Promise<SayTicket>;
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

/** What a finished synthesis gives every request that shared it. */
interface JobOutcome {
  produced: Produced;
  engine: string;
  fallbackFrom: string[];
}

/** A live synthesis and the requests waiting on it. */
interface Flight {
  job: LiveJob;
  outcome: Promise<JobOutcome>;
  audio: SayAudio;
  controller: AbortController;
  /** Requests with a signal waiting on it; the flight is aborted when all of them abort. */
  waiting: number;
}

async function checkVoice(entry: EngineEntry, voice: string, signal: AbortSignal): Promise<void> {
  let voices: Array<{ name: string }>;
  try {
    voices = await entry.engine.voices(signal);
  } catch {
    return; // The engine is unreachable: the fallback chain decides, not the voice list.
  }
  if (voices.length === 0 || voices.some((v) => v.name === voice)) return;
  const known = voices.slice(0, 20).map((v) => v.name);
  throw new AppError(
    'VOICE_NOT_FOUND',
    `voice '${voice}' not found on engine '${entry.engine.name}'; known voices: ${known.join(', ')}${voices.length > 20 ? ', …' : ''}`,
  );
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/** Builds the say service. */
export function createSayService(deps: SayServiceDeps): SayService {
  const { dispatcher, cache, log } = deps;
  const registry = createLiveRegistry();
  const flights = new Map<LiveJob, Flight>();
  const running = new Set<AbortController>();
  const counters: SayStats = {
    ok: 0,
    errors: 0,
    cacheHits: 0,
    cacheMisses: 0,
    engineRuns: {},
    engineRequests: {},
    phraseHits: 0,
    sharedRuns: 0,
    lastLatencyMs: 0,
  };
  const audioDeps: SayAudioDeps = { cache, deriver: deps.deriver, audioUrl: deps.audioUrl };
  const attemptDeps: AttemptDeps = {
    cache,
    phrases: deps.phrases ?? createPhraseCache(),
    bitrateKbps: deps.bitrateKbps,
    lastFormat: new Map<string, AudioFormat>(),
    pool: createEncoderPool(),
    onPhraseHit: () => counters.phraseHits++,
    onEngineRun: (name) => {
      counters.engineRuns[name] = (counters.engineRuns[name] ?? 0) + 1;
    },
    onEngineRequest: (name) => {
      counters.engineRequests[name] = (counters.engineRequests[name] ?? 0) + 1;
    },
  };
  const loudnorm = (entry: EngineEntry): boolean => deps.loudnormEngines?.has(entry.engine.name) ?? false;
  let closing = false;

  /** A cached entry in the asked format, or one derived from another cached format; undefined on a miss. */
  async function lookup(keyFor: (f: OutputFormat) => string, format: OutputFormat, signal: AbortSignal) {
    const hit = cache.get(keyFor(format), format);
    if (hit) return hit;
    for (const other of OUTPUT_FORMATS.filter((f) => f !== format)) {
      const source = cache.get(keyFor(other), other);
      if (source) return deps.deriver.derive(source, keyFor(format), format, signal);
    }
    return undefined;
  }

  /** Runs the dispatch of a new live job; the job ends (entry committed) or fails before this settles. */
  async function fly(
    request: SayRequest,
    job: LiveJob,
    controller: AbortController,
    lookups: boolean,
  ): Promise<JobOutcome> {
    const signal = controller.signal;
    try {
      const outcome = await dispatcher.run(
        request.engine,
        signal,
        async (entry, sig, isFallback): Promise<Produced> => {
          const voice = attemptVoice(request, entry, isFallback, loudnorm(entry));
          job.restart(
            new AppError('ENGINE_FAILED', 'the engine failed mid-stream; a fallback engine starts over'),
          );
          const key = voice.keyFor(request.format);
          const hit =
            key !== job.key && lookups ? await lookup(voice.keyFor, request.format, sig) : undefined;
          if (hit) return { entry: hit, voice, cached: true, firstAudioAt: await replayEntry(hit, job, sig) };
          return runAttempt(
            attemptDeps,
            { request, entry, voice, job, lookups, loudnorm: loudnorm(entry) },
            sig,
          );
        },
        request.priority,
      );
      const produced = outcome.value;
      registry.alias(job.key, produced.entry.key, request.format);
      job.end();
      return { produced, engine: outcome.engine.engine.name, fallbackFrom: outcome.fallbackFrom };
    } catch (err) {
      const e =
        closing && signal.aborted ? new AppError('SHUTTING_DOWN', 'the hub shut down', { cause: err }) : err;
      job.fail(toAppError(e));
      throw e;
    } finally {
      registry.remove(job);
      flights.delete(job);
      running.delete(controller);
    }
  }

  /** Starts a live job for `key` and registers it as the flight identical requests join. */
  function launch(request: SayRequest, key: string, lookups: boolean): Flight {
    const job = registry.create(key, request.format);
    const controller = new AbortController();
    running.add(controller);
    counters.cacheMisses++;
    const outcome = fly(request, job, controller, lookups);
    const final = outcome.then((o) => finalAudio(audioDeps, o.produced.entry, o.produced.voice.keyFor));
    outcome.catch(() => {});
    final.catch(() => {});
    const flight: Flight = {
      job,
      outcome,
      audio: liveAudio(audioDeps, key, request.format, final),
      controller,
      waiting: 0,
    };
    flights.set(job, flight);
    return flight;
  }

  /** Waits for a flight on behalf of one request; the flight is aborted when every request waiting on it gave up. */
  async function waitFor(flight: Flight, signal: AbortSignal | undefined): Promise<JobOutcome> {
    if (!signal) return flight.outcome;
    flight.waiting++;
    const onAbort = (): void => {
      if (--flight.waiting === 0) flight.controller.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await untilAborted(flight.outcome, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function finish(
    request: SayRequest,
    t0: number,
    audio: SayAudio,
    signal: AbortSignal | undefined,
    settle: () => Promise<{
      entry: CacheEntry;
      voice: string | undefined;
      engine: string;
      cached: boolean;
      firstAudioAt: number;
      fallbackFrom: string[];
    }>,
  ): Promise<SayResult> {
    const controller = new AbortController();
    const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
    const delivering =
      request.targets.length && deps.deliver ? deps.deliver(request, audio, combined) : undefined;
    delivering?.catch(() => {});
    try {
      const s = await settle();
      const result: SayResult = {
        id: request.id,
        textChars: request.text.length,
        engine: s.engine,
        voice: s.voice,
        cached: s.cached,
        key: s.entry.key,
        url: deps.audioUrl(s.entry.key, request.format),
        format: request.format,
        durationMs: s.entry.durationMs,
        bytes: s.entry.bytes,
        latencyMs: { total: 0, firstAudio: round1(Math.max(0, s.firstAudioAt - t0)) },
        fallbackFrom: s.fallbackFrom,
      };
      if (delivering) result.targets = await delivering;
      result.latencyMs.total = round1(performance.now() - t0);
      counters.ok++;
      counters.lastLatencyMs = result.latencyMs.total;
      log.info(
        {
          id: request.id,
          engine: result.engine,
          cached: result.cached,
          chars: result.textChars,
          ms: result.latencyMs.total,
        },
        'said',
      );
      return result;
    } catch (err) {
      controller.abort(err);
      counters.errors++;
      throw toAppError(err);
    }
  }

  async function begin(request: SayRequest, signal?: AbortSignal): Promise<SayTicket> {
    try {
      return await start(request, signal);
    } catch (err) {
      counters.errors++;
      throw toAppError(err);
    }
  }

  async function start(request: SayRequest, signal?: AbortSignal): Promise<SayTicket> {
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    const t0 = performance.now();
    const check = signal ?? new AbortController().signal;
    const chain = dispatcher.chain(request.engine);
    const first = chain[0] as EngineEntry;
    if (request.targets.length) {
      if (!deps.checkTargets) throw new AppError('TARGET_NOT_FOUND', 'no targets are configured');
      deps.checkTargets(request.targets);
    }
    if (request.voice) await checkVoice(first, request.voice, check);
    const voice = attemptVoice(request, first, false, loudnorm(first));
    const key = voice.keyFor(request.format);
    const lookups = request.cache && deps.cacheLookups;
    const hit = lookups ? await lookup(voice.keyFor, request.format, check) : undefined;
    if (hit) {
      counters.cacheHits++;
      const at = performance.now();
      const audio = finalAudio(audioDeps, hit, voice.keyFor);
      const done = finish(request, t0, audio, signal, async () => ({
        entry: hit,
        voice: voice.voice,
        engine: first.engine.name,
        cached: true,
        firstAudioAt: at,
        fallbackFrom: [],
      }));
      return { id: request.id, engine: first.engine.name, audio, cached: true, done };
    }
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    // Single-flight: an identical request in flight is joined (a request with cache: false wants its own run).
    const live = request.cache ? registry.get(key, request.format) : undefined;
    const joined = live ? flights.get(live) : undefined;
    const flight = joined ?? launch(request, key, lookups);
    if (joined) counters.sharedRuns++;
    const settle = async () => {
      const o = await waitFor(flight, signal);
      const p = o.produced;
      return {
        entry: p.entry,
        voice: p.voice.voice,
        engine: o.engine,
        cached: joined ? false : p.cached,
        firstAudioAt: p.firstAudioAt,
        fallbackFrom: o.fallbackFrom,
      };
    };
    const done = finish(request, t0, flight.audio, signal, settle);
    done.catch(() => {});
    return { id: request.id, engine: first.engine.name, audio: flight.audio, cached: false, done };
  }

  return {
    begin,
    async say(request, signal) {
      return (await begin(request, signal)).done;
    },
    liveAudio: (key, format) => registry.get(key, format),
    audioKey: (key, format) => registry.resolve(key, format),
    inFlight: () => running.size,
    stats: () => structuredClone(counters),
    async stop(graceMs = 8000) {
      closing = true;
      const deadline = Date.now() + graceMs;
      while (running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const c of running) c.abort(new AppError('SHUTTING_DOWN', 'shutting down'));
      while (running.size) await new Promise((r) => setTimeout(r, 20));
      attemptDeps.pool.close();
    },
  };
}
