/**
 * The say service: the one domain service every input calls (DESIGN "Architecture rules").
 * A request is checked, looked up in the cache (a hit in the asked format runs nothing; another cached format
 * is derived once), then joins an identical synthesis in flight (single-flight, keyed by cache key + format)
 * or starts a live job whose URL exists at once. The job dispatches with fallback; each attempt speaks the
 * text sentence by sentence (phrase cache, engine) into one ffmpeg whose bytes go to live listeners and the
 * cache writer at once. Fallback after a failure: listeners that already got bytes of the failed engine see
 * their stream break (a file spliced from two engines would not be valid); the job restarts from byte 0 on
 * the next engine, later GETs of the first URL get the new audio, and after the end an alias maps the first
 * key to the fallback's entry. A final failure cuts every listener, commits nothing and rejects every waiter.
 */
import { performance } from 'node:perf_hooks';
import type { AudioFormat } from '../audio/format.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../audio/format.js';
import type { CacheEntry } from '../cache/store.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { EngineEntry } from './dispatcher.js';
import { createLiveRegistry, type LiveJob } from './live-audio.js';
import { createEncoderPool } from './live-encoder.js';
import { createPhraseCache } from './phrases.js';
import { finalAudio, liveAudio, type SayAudio, type SayAudioDeps, untilAborted } from './say-audio.js';
import { type AttemptDeps, attemptVoice, type Produced, replayEntry, runAttempt } from './say-job.js';
import type { SayRequest } from './say-request.js';
import type { SayResult, SayService, SayServiceDeps, SayStats, SayTicket } from './say-types.js';

export type { SayAudio } from './say-audio.js';
export type {
  DeliverFn,
  SayResult,
  SayService,
  SayServiceDeps,
  SayStats,
  SayTicket,
  TargetOutcome,
} from './say-types.js';

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
  /** Requests waiting on it that have not aborted; the flight is aborted when this drops to 0. */
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

  /**
   * Waits for a flight on behalf of one request. The flight is aborted only when every request waiting on it
   * has aborted (a request without a signal never gives up).
   */
  async function waitFor(flight: Flight, signal: AbortSignal | undefined): Promise<JobOutcome> {
    flight.waiting++;
    if (!signal) return flight.outcome;
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
    // Single-flight: an identical request in flight is joined. Also with cache: false: the audio in flight is
    // being made now, which is what such a request asks for (it only refuses audio made before it).
    const live = registry.find(key, request.format);
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
