/**
 * The say service: the one domain service every input calls (DESIGN "Architecture rules").
 * A request is checked (engine, voice, targets), looked up in the cache (a hit in the asked format runs
 * nothing; another cached format is derived once), then joins an identical synthesis in flight or starts a
 * live job whose URL exists at once (say-flight: single-flight, dispatch with fallback, live listeners;
 * say-job: one attempt on one engine). Delivery to targets starts with the URL; the result, the counters and
 * the log line come when the synthesis ends.
 */
import { performance } from 'node:perf_hooks';
import type { AudioFormat } from '../audio/format.js';
import type { CacheEntry } from '../cache/store.js';
import { AppError, toAppError, type Warning } from '../shared/errors.js';
import { budgetMs, type Deadline, deadlineError, startDeadlineTimer } from './deadline.js';
import type { EngineEntry } from './dispatcher.js';
import { createLiveRegistry } from './live-audio.js';
import { createEncoderPool } from './live-encoder.js';
import { createPhraseCache } from './phrases.js';
import { finalAudio, findCached, type SayAudio, type SayAudioDeps } from './say-audio.js';
import { createFlights, type Flight } from './say-flight.js';
import { type AttemptDeps, attemptVoice } from './say-job.js';
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

async function checkVoice(entry: EngineEntry, voice: string, signal: AbortSignal): Promise<void> {
  let voices: Array<{ name: string }>;
  try {
    voices = await entry.engine.voices(signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : err;
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

/** `default_deadline_s` when the deps give none, in ms. */
const DEFAULT_DEADLINE_MS = 60_000;

/** What `begin` hands `start`: the request's deadline, the signal that aborts at it, and where it got to. */
interface StartContext {
  deadline: Deadline;
  /** The caller's signal combined with the deadline. */
  guarded: AbortSignal;
  stage(): 'queue' | 'engine';
  setFlight(flight: Flight): void;
}

/** The warning of a result whose audio the disk refused and memory holds. */
function degradedWarning(reason: string | null): Warning {
  return {
    code: 'CACHE_DEGRADED',
    message: `the share volume refused the cache write (${reason ?? 'disk full or read-only'}); the audio is held in memory only and is lost at restart; free space on the share volume`,
  };
}

/** What a request's result is built from once its audio is final. */
interface Settled {
  entry: CacheEntry;
  voice: string | undefined;
  engine: string;
  cached: boolean;
  /** performance.now() when the first encoded bytes existed (the lookup's time on a hit). */
  firstAudioAt: number;
  fallbackFrom: string[];
  /** The instance that spoke, when its engine has several. */
  instance?: string;
}

/** Builds the say service. */
export function createSayService(deps: SayServiceDeps): SayService {
  const { dispatcher, cache, log } = deps;
  const registry = createLiveRegistry();
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
    deadlineDrops: { queue: 0, engine: 0, target: 0 },
  };
  const defaultDeadlineMs = deps.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
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

  const flights = createFlights({
    dispatcher,
    registry,
    attemptDeps,
    audioDeps,
    loudnorm,
    closing: () => closing,
  });

  async function finish(
    request: SayRequest,
    t0: number,
    audio: SayAudio,
    signal: AbortSignal | undefined,
    settle: () => Promise<Settled>,
    stage: () => 'queue' | 'engine' = () => 'queue',
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
      if (s.instance) result.instance = s.instance;
      if (s.entry.data) result.warnings = [degradedWarning(cache.health().degraded_reason)];
      if (delivering) {
        result.targets = await delivering;
        for (const t of result.targets)
          if (t.error?.startsWith('DEADLINE_EXCEEDED')) counters.deadlineDrops.target++;
      }
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
      const e = toAppError(err);
      if (e.code === 'DEADLINE_EXCEEDED') counters.deadlineDrops[stage()]++;
      throw e;
    }
  }

  async function begin(request: SayRequest, signal?: AbortSignal): Promise<SayTicket> {
    const budget = budgetMs(request.deadlineS, request.expiryS, defaultDeadlineMs);
    const deadline: Deadline = { at: request.receivedAt + budget };
    let flight: Flight | undefined;
    const stage = (): 'queue' | 'engine' => (flight?.reachedEngine ? 'engine' : 'queue');
    const timer = startDeadlineTimer(deadline, () =>
      deadlineError(
        budget,
        stage() === 'engine' ? 'while an engine was speaking' : 'before an engine was free',
      ),
    );
    const guarded = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
    const ctx: StartContext = { deadline, guarded, stage, setFlight: (f) => (flight = f) };
    try {
      const ticket = await start({ ...request, deadlineAt: deadline.at }, signal, ctx);
      ticket.done.then(timer.clear, timer.clear);
      return ticket;
    } catch (err) {
      timer.clear();
      counters.errors++;
      const e = toAppError(err);
      if (e.code === 'DEADLINE_EXCEEDED') counters.deadlineDrops.queue++;
      throw e;
    }
  }

  async function start(
    request: SayRequest,
    signal: AbortSignal | undefined,
    ctx: StartContext,
  ): Promise<SayTicket> {
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    const t0 = performance.now();
    const check = ctx.guarded;
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
    const hit = lookups ? await findCached(audioDeps, voice.keyFor, request.format, check) : undefined;
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
    const joined = flights.find(key, request.format);
    const flight = joined ?? flights.launch(request, key, lookups, ctx.deadline);
    ctx.setFlight(flight);
    if (joined) {
      counters.sharedRuns++;
      // The shared synthesis runs until the latest deadline of the requests waiting on it.
      joined.deadline.at = Math.max(joined.deadline.at, ctx.deadline.at);
    } else counters.cacheMisses++;
    const settle = async (): Promise<Settled> => {
      const o = await flights.wait(flight, check);
      const p = o.produced;
      return {
        entry: p.entry,
        voice: p.voice.voice,
        engine: o.engine,
        cached: joined ? false : p.cached,
        firstAudioAt: p.firstAudioAt,
        fallbackFrom: o.fallbackFrom,
        ...(o.instance ? { instance: o.instance } : {}),
      };
    };
    const done = finish(request, t0, flight.audio, signal, settle, ctx.stage);
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
    inFlight: () => flights.size,
    stats: () => structuredClone(counters),
    async stop(graceMs = 8000) {
      closing = true;
      const deadline = Date.now() + graceMs;
      while (flights.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      flights.abortAll(new AppError('SHUTTING_DOWN', 'shutting down'));
      while (flights.size) await new Promise((r) => setTimeout(r, 20));
      attemptDeps.pool.close();
    },
  };
}
