/**
 * The say service: the one domain service every input calls (DESIGN "Architecture rules").
 * A request is checked (engine, voice, targets), looked up in the cache (a hit in the asked format runs
 * nothing; another cached format is derived once), then joins an identical synthesis in flight or starts a
 * live job whose URL exists at once (say-flight: single-flight, dispatch with fallback, live listeners;
 * say-job: one attempt on one engine). Delivery to targets starts with the URL; the result, the counters and
 * the log line come when the synthesis ends.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_OPUS_COMPLEXITY } from '../audio/encoder.js';
import type { AudioFormat } from '../audio/format.js';
import type { CacheEntry } from '../cache/store.js';
import { AppError, toAppError, type Warning } from '../shared/errors.js';
import { SHUTDOWN_GRACE_MS } from '../shared/shutdown.js';
import { budgetMs, type Deadline, deadlineError, startDeadlineTimer } from '../tts/deadline.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import { finalAudio, findCached, type SayAudio, type SayAudioDeps } from './audio.js';
import { DEFAULT_MIX_FORMAT, mixKey, prepareMix, resolveMix } from './chimes.js';
import { createFlights, type Flight } from './flight.js';
import { type AttemptDeps, attemptVoice } from './job.js';
import { createLiveRegistry } from './live-audio.js';
import { createEncoderPool } from './live-encoder.js';
import { createPhraseCache } from './phrases.js';
import { type AudioPreset, commonPreset, planDeliveries, withPreset } from './presets.js';
import type { SayRequest } from './request.js';
import type {
  Delivery,
  PlannedTarget,
  SayOptions,
  SayResult,
  SayService,
  SayServiceDeps,
  SayStats,
  SayTicket,
} from './types.js';

export type { SayAudio } from './audio.js';
export type {
  DeliverFn,
  Delivery,
  DeliveryLedger,
  PlannedTarget,
  PlayEnd,
  SayOptions,
  SayResult,
  SayService,
  SayServiceDeps,
  SayStats,
  SayTicket,
  TargetOutcome,
} from './types.js';

/** A voice name that could reach a file system path (`../../x.onnx`, `/tmp/x`, `a\\b`). */
export function looksLikePath(voice: string): boolean {
  return voice.includes('/') || voice.includes('\\') || voice.includes('..');
}

/**
 * Checks the request's voice against the engine's list. A voice that looks like a path is taken only when the
 * engine itself lists it (an engine that lists nothing, or cannot be asked, takes none): CLI engines pass the
 * voice to a model path argument.
 * @throws AppError VOICE_NOT_FOUND.
 */
async function checkVoice(entry: EngineEntry, voice: string, signal: AbortSignal): Promise<void> {
  let voices: Array<{ name: string }> | undefined;
  try {
    voices = await entry.engine.voices(signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : err;
    voices = undefined; // The engine is unreachable: the fallback chain decides, not the voice list.
  }
  if (looksLikePath(voice) && !voices?.some((v) => v.name === voice)) {
    throw new AppError(
      'VOICE_NOT_FOUND',
      `voice '${voice.slice(0, 128)}' looks like a file path and engine '${entry.engine.name}' does not list it; name a voice the engine lists (GET /api/voices)`,
    );
  }
  if (voices === undefined || voices.length === 0 || voices.some((v) => v.name === voice)) return;
  const known = voices.slice(0, 20).map((v) => v.name);
  throw new AppError(
    'VOICE_NOT_FOUND',
    `voice '${voice}' not found on engine '${entry.engine.name}'; known voices: ${known.join(', ')}${voices.length > 20 ? ', …' : ''}`,
  );
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/** `default_deadline_s` when the deps give none, in ms. */
const DEFAULT_DEADLINE_MS = 60_000;

/** A request's deadline as its productions share it, and where they got to (for the deadline-drop metric). */
interface DeadlineContext {
  deadline: Deadline;
  /** The caller's signal combined with the deadline's. */
  guarded: AbortSignal;
  /** The flights the request waits on (its own audio, and targets' preset variants). */
  flights: Flight[];
}

/** `engine` once any of the request's flights reached an engine instance, else `queue`. */
const stageOf = (ctx: DeadlineContext): 'queue' | 'engine' =>
  ctx.flights.some((f) => f.reachedEngine) ? 'engine' : 'queue';

/** One effective request's audio: its URL now, its final facts through `settle`. */
interface Production {
  audio: SayAudio;
  cached: boolean;
  /** The engine asked first. */
  engine: string;
  settle(): Promise<Settled>;
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
    opus: {
      encoder: deps.opusEncoder ?? 'inprocess',
      complexity: deps.opusComplexity ?? DEFAULT_OPUS_COMPLEXITY,
    },
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
    deliveries: Delivery[],
    signal: AbortSignal | undefined,
    options: SayOptions,
    settle: () => Promise<Settled>,
    ctx: DeadlineContext,
  ): Promise<SayResult> {
    const controller = new AbortController();
    const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
    const delivering =
      deliveries.length && deps.deliver
        ? deps.deliver(request, deliveries, combined, options.ledger)
        : undefined;
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
        result.delivered = result.targets.every((t) => t.ok);
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
      if (e.code === 'DEADLINE_EXCEEDED') counters.deadlineDrops[stageOf(ctx)]++;
      throw e;
    }
  }

  async function begin(
    request: SayRequest,
    signal?: AbortSignal,
    options: SayOptions = {},
  ): Promise<SayTicket> {
    const budget = budgetMs(request.deadlineS, request.expiryS, defaultDeadlineMs);
    const deadline: Deadline = { at: request.receivedAt + budget };
    const flightsOf: Flight[] = [];
    const timer = startDeadlineTimer(deadline, () =>
      deadlineError(
        budget,
        flightsOf.some((f) => f.reachedEngine) ? 'while an engine was speaking' : 'before an engine was free',
      ),
    );
    const guarded = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
    const ctx: DeadlineContext = { deadline, guarded, flights: flightsOf };
    try {
      const ticket = await start({ ...request, deadlineAt: deadline.at }, signal, options, ctx);
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

  /**
   * The audio of one effective request (presets applied, targets aside): checks (engine, voice, chimes), the
   * cache lookup, then a flight joined or launched. Chimes are decoded only on a miss, before any engine.
   */
  async function produce(request: SayRequest, ctx: DeadlineContext): Promise<Production> {
    const check = ctx.guarded;
    const chain = dispatcher.chain(request.engine);
    const first = chain[0] as EngineEntry;
    if (request.voice) await checkVoice(first, request.voice, check);
    const mix = await resolveMix(deps.chimes, request);
    const mixId = mixKey(mix);
    const voice = attemptVoice(request, first, false, loudnorm(first), mixId);
    const key = voice.keyFor(request.format);
    const lookups = request.cache && deps.cacheLookups;
    const hit = lookups ? await findCached(audioDeps, voice.keyFor, request.format, check) : undefined;
    if (hit) {
      counters.cacheHits++;
      const at = performance.now();
      return {
        audio: finalAudio(audioDeps, hit, voice.keyFor),
        cached: true,
        engine: first.engine.name,
        settle: async () => ({
          entry: hit,
          voice: voice.voice,
          engine: first.engine.name,
          cached: true,
          firstAudioAt: at,
          fallbackFrom: [],
        }),
      };
    }
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    const format = attemptDeps.lastFormat.get(first.engine.name) ?? DEFAULT_MIX_FORMAT;
    const plan = mix ? await prepareMix(deps.chimes, mix, format, check) : undefined;
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    // Single-flight: an identical request in flight is joined. Also with cache: false: the audio in flight is
    // being made now, which is what such a request asks for (it only refuses audio made before it).
    const joined = flights.find(key, request.format);
    const flight =
      joined ?? flights.launch(request, voice.keyFor, lookups, ctx.deadline, { key: mixId, plan });
    ctx.flights.push(flight);
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
    return { audio: flight.audio, cached: false, engine: first.engine.name, settle };
  }

  async function start(
    request: SayRequest,
    signal: AbortSignal | undefined,
    options: SayOptions,
    ctx: DeadlineContext,
  ): Promise<SayTicket> {
    if (closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
    const t0 = performance.now();
    let targets: PlannedTarget[] = [];
    if (request.targets.length) {
      if (!deps.planTargets) throw new AppError('TARGET_NOT_FOUND', 'no targets are configured');
      targets = deps.planTargets(request.targets);
    }
    const base = request.preset ? withPreset(request, presetOf(request.preset)) : request;
    // The result's audio: the request with what all its targets' presets agree on.
    const own = withPreset(base, commonPreset(targets.map((t) => t.preset)));
    const main = await produce(own, ctx);
    const deliveries = planDeliveries(targets, base, own, main.audio, async (wanted) => {
      const p = await produce(wanted, ctx);
      p.settle().catch(() => {}); // its failure reaches the target through audio.ready()
      return p.audio;
    });
    const done = finish(request, t0, deliveries, signal, options, main.settle, ctx);
    done.catch(() => {});
    return { id: request.id, engine: main.engine, audio: main.audio, cached: main.cached, done };
  }

  function presetOf(name: string): AudioPreset {
    if (!deps.presetOf) throw new AppError('TARGET_NOT_FOUND', `preset '${name}': no targets are configured`);
    return deps.presetOf(name);
  }

  return {
    begin,
    async say(request, signal, options) {
      return (await begin(request, signal, options)).done;
    },
    liveAudio: (key, format) => registry.get(key, format),
    audioKey: (key, format) => registry.resolve(key, format),
    inFlight: () => flights.size,
    stats: () => structuredClone(counters),
    async stop(graceMs = SHUTDOWN_GRACE_MS) {
      closing = true;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => {
        timer = setTimeout(r, graceMs);
      });
      await Promise.race([flights.idle(), grace]);
      clearTimeout(timer);
      flights.abortAll(new AppError('SHUTTING_DOWN', 'shutting down'));
      await flights.idle();
      attemptDeps.pool.close();
    },
  };
}
