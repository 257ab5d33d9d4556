/**
 * The audio of one effective request (presets applied, targets aside): the checks (engine, voice, chimes), the
 * cache lookup (a hit in the asked format runs nothing; another cached format is derived once), then a flight
 * joined or launched (flight.ts). Chimes are decoded only on a miss, before any engine.
 */
import { performance } from 'node:perf_hooks';
import type { CacheEntry } from '../cache/store.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import { type AttemptVoice, attemptVoice } from './attempt-voice.js';
import { finalAudio, findCached, type SayAudio } from './audio.js';
import { DEFAULT_MIX_FORMAT, mixKey, prepareMix, type ResolvedMix, resolveMix } from './chimes.js';
import { assertOpen, type DeadlineContext, type SayContext } from './context.js';
import type { Flight } from './flight.js';
import type { SayRequest } from './request.js';
import { checkVoice } from './voice-check.js';

/** What a request's result is built from once its audio is final. */
export interface Settled {
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

/** One effective request's audio: its URL now, its final facts through `settle`. */
export interface Production {
  audio: SayAudio;
  cached: boolean;
  /** The engine asked first. */
  engine: string;
  settle(): Promise<Settled>;
}

/** A checked request: the engine asked first and the voice and keys it would produce. */
interface Checked {
  first: EngineEntry;
  voice: AttemptVoice;
  mix: ResolvedMix | undefined;
  mixId: Record<string, unknown> | undefined;
}

/** The checks before the cache: engine, voice, chimes. @throws AppError ENGINE_NOT_FOUND, VOICE_NOT_FOUND, CHIME_*. */
async function check(ctx: SayContext, request: SayRequest, signal: AbortSignal): Promise<Checked> {
  const first = ctx.deps.dispatcher.chain(request.engine)[0] as EngineEntry;
  if (request.voice) await checkVoice(first, request.voice, signal);
  const mix = await resolveMix(ctx.deps.chimes, request);
  const mixId = mixKey(mix);
  const voice = attemptVoice(request, first, false, ctx.loudnorm(first), mixId);
  return { first, voice, mix, mixId };
}

/** The production of a cache hit: final at once. */
function fromCache(ctx: SayContext, hit: CacheEntry, c: Checked): Production {
  ctx.counters.cacheHits++;
  const at = performance.now();
  const engine = c.first.engine.name;
  return {
    audio: finalAudio(ctx.audioDeps, hit, c.voice.keyFor),
    cached: true,
    engine,
    settle: async () => ({
      entry: hit,
      voice: c.voice.voice,
      engine,
      cached: true,
      firstAudioAt: at,
      fallbackFrom: [],
    }),
  };
}

/** What the request's wait on `flight` settles to. */
async function settleFlight(
  ctx: SayContext,
  flight: Flight,
  joined: boolean,
  signal: AbortSignal,
): Promise<Settled> {
  const o = await ctx.flights.wait(flight, signal);
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
}

/** A miss: an identical flight joined, else one launched (chimes prepared first). @throws AppError SHUTTING_DOWN. */
async function fromFlight(
  ctx: SayContext,
  request: SayRequest,
  c: Checked,
  lookups: boolean,
  dl: DeadlineContext,
): Promise<Production> {
  assertOpen(ctx);
  const format = ctx.attemptDeps.lastFormat.get(c.first.engine.name) ?? DEFAULT_MIX_FORMAT;
  const plan = c.mix ? await prepareMix(ctx.deps.chimes, c.mix, format, dl.guarded) : undefined;
  assertOpen(ctx);
  // Single-flight: an identical request in flight is joined. Also with cache: false: the audio in flight is
  // being made now, which is what such a request asks for (it only refuses audio made before it).
  const joined = ctx.flights.find(c.voice.keyFor(request.format), request.format);
  const flight =
    joined ?? ctx.flights.launch(request, c.voice.keyFor, lookups, dl.deadline, { key: c.mixId, plan });
  dl.flights.push(flight);
  if (joined) {
    ctx.counters.sharedRuns++;
    // The shared synthesis runs until the latest deadline of the requests waiting on it.
    joined.deadline.at = Math.max(joined.deadline.at, dl.deadline.at);
  } else ctx.counters.cacheMisses++;
  const settle = (): Promise<Settled> => settleFlight(ctx, flight, joined !== undefined, dl.guarded);
  return { audio: flight.audio, cached: false, engine: c.first.engine.name, settle };
}

/**
 * The audio of one effective request (see the module comment).
 * @throws AppError ENGINE_NOT_FOUND, VOICE_NOT_FOUND, CHIME_NOT_FOUND, CHIME_INVALID, SHUTTING_DOWN; the
 *   deadline's or the caller's abort reason.
 */
export async function produce(
  ctx: SayContext,
  request: SayRequest,
  dl: DeadlineContext,
): Promise<Production> {
  const c = await check(ctx, request, dl.guarded);
  const lookups = request.cache && ctx.deps.cacheLookups;
  const hit = lookups
    ? await findCached(ctx.audioDeps, c.voice.keyFor, request.format, dl.guarded)
    : undefined;
  return hit ? fromCache(ctx, hit, c) : fromFlight(ctx, request, c, lookups, dl);
}
