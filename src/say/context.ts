/**
 * What the parts of the say service share (service.ts builds it once): its collaborators, its counters, the
 * attempts' per-engine memory, the flights in progress, and whether it is closing.
 */
import { DEFAULT_OPUS_COMPLEXITY } from '../audio/encoder.js';
import type { AudioFormat } from '../audio/format.js';
import { AppError } from '../shared/errors.js';
import type { Deadline } from '../tts/deadline.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import type { SayAudioDeps } from './audio.js';
import { createFlights, type Flight, type Flights } from './flight.js';
import type { AttemptDeps } from './job.js';
import { createLiveRegistry, type LiveRegistry } from './live-audio.js';
import { createEncoderPool } from './live-encoder.js';
import { createPhraseCache } from './phrases.js';
import type { SayServiceDeps, SayStats } from './types.js';

/** `default_deadline_s` when the deps give none, in ms. */
const DEFAULT_DEADLINE_MS = 60_000;

/** The say service's shared state (see the module comment). */
export interface SayContext {
  deps: SayServiceDeps;
  counters: SayStats;
  registry: LiveRegistry;
  audioDeps: SayAudioDeps;
  attemptDeps: AttemptDeps;
  flights: Flights;
  /** The deadline of a request that sets none, in ms. */
  defaultDeadlineMs: number;
  /** True when `entry`'s sentences are loudness-normalized (`engines[].loudnorm`). */
  loudnorm(entry: EngineEntry): boolean;
  /** Set by `stop()`: new requests are refused with SHUTTING_DOWN. */
  closing: boolean;
}

/** A request's deadline as its productions share it, and where they got to (for the deadline-drop metric). */
export interface DeadlineContext {
  deadline: Deadline;
  /** The caller's signal combined with the deadline's. */
  guarded: AbortSignal;
  /** The flights the request waits on (its own audio, and targets' preset variants). */
  flights: Flight[];
}

/** `engine` once any of the request's flights reached an engine instance, else `queue`. */
export const stageOf = (ctx: DeadlineContext): 'queue' | 'engine' =>
  ctx.flights.some((f) => f.reachedEngine) ? 'engine' : 'queue';

/** @throws AppError SHUTTING_DOWN once the service is closing. */
export function assertOpen(ctx: SayContext): void {
  if (ctx.closing) throw new AppError('SHUTTING_DOWN', 'the hub is shutting down; try again when it is back');
}

/** Counters at start. */
function emptyStats(): SayStats {
  return {
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
}

/** The attempts' collaborators, counting into `counters`. */
function attemptDepsOf(deps: SayServiceDeps, counters: SayStats): AttemptDeps {
  return {
    cache: deps.cache,
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
}

/** Builds the shared state of a new say service. */
export function createSayContext(deps: SayServiceDeps): SayContext {
  const counters = emptyStats();
  const registry = createLiveRegistry();
  const audioDeps: SayAudioDeps = { cache: deps.cache, deriver: deps.deriver, audioUrl: deps.audioUrl };
  const attemptDeps = attemptDepsOf(deps, counters);
  const loudnorm = (entry: EngineEntry): boolean => deps.loudnormEngines?.has(entry.engine.name) ?? false;
  const ctx: SayContext = {
    deps,
    counters,
    registry,
    audioDeps,
    attemptDeps,
    defaultDeadlineMs: deps.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS,
    loudnorm,
    closing: false,
    flights: createFlights({
      dispatcher: deps.dispatcher,
      registry,
      attemptDeps,
      audioDeps,
      loudnorm,
      closing: () => ctx.closing,
    }),
  };
  return ctx;
}
