/**
 * The single-flight of live syntheses: one live job per `<key>.<format>`, shared by every identical request
 * while it runs, and aborted only when every request waiting on it has given up. A job dispatches with
 * fallback; each attempt restarts the live job (listeners that got bytes of a failed engine see their stream
 * break), then replays the fallback voice's cached entry or speaks the text (say-job). After the end an alias
 * maps the first key to the fallback's entry; a final failure fails the live job and commits nothing.
 */
import { performance } from 'node:perf_hooks';
import type { OutputFormat } from '../audio/format.js';
import type { MixPlan } from '../chimes/mix.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Deadline } from '../tts/deadline.js';
import type { Dispatcher, DispatchOutcome, EngineEntry } from '../tts/dispatcher.js';
import type { EngineInstance } from '../tts/engine-pool.js';
import { attemptVoice } from './attempt-voice.js';
import {
  finalAudio,
  findCached,
  liveAudio,
  type SayAudio,
  type SayAudioDeps,
  untilAborted,
} from './audio.js';
import { type AttemptDeps, type Produced, runAttempt } from './job.js';
import type { LiveJob, LiveRegistry } from './live-audio.js';
import { deriveLive, type LiveDeriveDeps } from './live-derive.js';
import { replayEntry } from './live-tap.js';
import type { SayRequest } from './request.js';

/** What a finished synthesis gives every request that shared it. */
export interface JobOutcome {
  produced: Produced;
  /** The engine that spoke. */
  engine: string;
  /** The endpoint of the instance that spoke, when the engine has several. */
  instance?: string;
  /** Engines that failed before it, in order. */
  fallbackFrom: string[];
}

/** A live synthesis and the requests waiting on it. */
export interface Flight {
  job: LiveJob;
  /** Settles after the job has ended (entry committed) or failed; rejects with the dispatch error. */
  outcome: Promise<JobOutcome>;
  /** The audio as targets see it: live at once, final when the entry is committed. */
  audio: SayAudio;
  controller: AbortController;
  /** Requests waiting on it that have not aborted; the flight is aborted when this drops to 0. */
  waiting: number;
  /** When it must be done: the latest deadline of the requests sharing it (a joining request may extend it). */
  deadline: Deadline;
  /** True once an engine instance took it (for the deadline-drop metric: queue or engine). */
  reachedEngine: boolean;
}

/** A request's chimes and timing as a flight uses them. */
export interface FlightMix {
  /** The cache-key part (say-chimes.ts `mixKey`). */
  key: Record<string, unknown> | undefined;
  /** The prepared chimes for the mixer. */
  plan: MixPlan | undefined;
}

/** The flights running now (see the module comment). */
export interface Flights {
  /** The flight registered under exactly `key` and `format`, if one runs. */
  find(key: string, format: OutputFormat): Flight | undefined;
  /**
   * Starts a live job for `keyFor(request.format)` and registers it as the flight identical requests join;
   * `keyFor` gives the speech's key in other formats (for live derivations); it must be done by `deadline`
   * (extended by joiners); `mix` is the request's chimes and timing (its cache-key part and the prepared PCM),
   * the same on every fallback engine.
   */
  launch(
    request: SayRequest,
    keyFor: (format: OutputFormat) => string,
    lookups: boolean,
    deadline: Deadline,
    mix?: FlightMix,
  ): Flight;
  /**
   * Waits for `flight` on behalf of one request. The flight is aborted only when every request waiting on it
   * has aborted (a request without a signal never gives up).
   * @throws the dispatch error; the abort reason when `signal` aborts first.
   */
  wait(flight: Flight, signal: AbortSignal | undefined): Promise<JobOutcome>;
  /** Flights running now. */
  readonly size: number;
  /** Aborts every running flight with `reason`. */
  abortAll(reason: Error): void;
  /** Resolves once no flight runs (at once when none does). */
  idle(): Promise<void>;
}

/** Collaborators of the flights. */
export interface FlightDeps {
  dispatcher: Dispatcher;
  registry: LiveRegistry;
  attemptDeps: AttemptDeps;
  audioDeps: SayAudioDeps;
  /** True when `entry`'s sentences are loudness-normalized. */
  loudnorm(entry: EngineEntry): boolean;
  /** True once the service stops: a flight aborted then fails with SHUTTING_DOWN. */
  closing(): boolean;
}

/** A new flight's request and what its attempts need. */
interface FlightRun {
  request: SayRequest;
  job: LiveJob;
  flight: Flight;
  lookups: boolean;
  mix: FlightMix | undefined;
}

/** Feeds the speed estimate of `engine` at `endpoint` with one synthesis of `run` (started at `t0`, performance.now() ms). */
function observeSpeed(
  deps: FlightDeps,
  run: FlightRun,
  produced: Produced,
  at: { engine: string; endpoint: string },
  t0: number,
): void {
  // Chimes mixed in would count as the engine's audio: such syntheses are left out of its speed.
  if (!produced.synthesized || run.mix?.plan) return;
  deps.dispatcher.speed.observe({
    engine: at.engine,
    endpoint: at.endpoint,
    ms: produced.engineMs ?? performance.now() - t0,
    wallMs: performance.now() - t0,
    chars: run.request.text.length,
    audioMs: produced.entry.durationMs,
  });
}

/**
 * One engine's attempt at `run`: restarts the live job, replays the engine's cached entry when there is one
 * (a fallback whose audio was cached), else speaks the text (job.ts). `engineDone` frees the engine's slot
 * (Dispatcher `DispatchWork`): called once the engine's last audio is in, or at once for a replay.
 */
async function attemptOn(
  deps: FlightDeps,
  run: FlightRun,
  entry: EngineEntry,
  signal: AbortSignal,
  isFallback: boolean,
  instance: EngineInstance,
  engineDone: () => void,
): Promise<Produced> {
  const { request, job } = run;
  run.flight.reachedEngine = true;
  const t0 = performance.now();
  const voice = attemptVoice(request, entry, isFallback, deps.loudnorm(entry), run.mix?.key);
  job.restart(new AppError('ENGINE_FAILED', 'the engine failed mid-stream; a fallback engine starts over'));
  const key = voice.keyFor(request.format);
  const hit =
    key !== job.key && run.lookups
      ? await findCached(deps.audioDeps, voice.keyFor, request.format, signal)
      : undefined;
  if (hit) {
    engineDone(); // a replay from the cache asks the engine for nothing
    return { entry: hit, voice, cached: true, firstAudioAt: await replayEntry(hit, job, signal) };
  }
  const input = {
    request,
    entry,
    voice,
    job,
    lookups: run.lookups,
    loudnorm: deps.loudnorm(entry),
    onEngineDone: engineDone,
  };
  const produced = await runAttempt(deps.attemptDeps, { ...input, mix: run.mix?.plan }, signal);
  observeSpeed(deps, run, produced, { engine: entry.engine.name, endpoint: instance.endpoint }, t0);
  return produced;
}

/** The outcome every waiting request gets from a finished dispatch. */
function outcomeOf(outcome: DispatchOutcome<Produced>): JobOutcome {
  const several = outcome.engine.instances !== undefined && outcome.engine.instances.length > 1;
  return {
    produced: outcome.value,
    engine: outcome.engine.engine.name,
    ...(several ? { instance: outcome.instance.endpoint } : {}),
    fallbackFrom: outcome.fallbackFrom,
  };
}

/** Runs the dispatch of a new live job; the job ends (entry committed) or fails before this settles. */
async function fly(deps: FlightDeps, flights: FlightSet, run: FlightRun): Promise<JobOutcome> {
  const { request, job } = run;
  const signal = run.flight.controller.signal;
  try {
    const outcome = await deps.dispatcher.run(
      request.engine,
      signal,
      (entry, sig, isFallback, instance, engineDone) =>
        attemptOn(deps, run, entry, sig, isFallback, instance, engineDone),
      { priority: request.priority, deadline: run.flight.deadline, chars: request.text.length },
    );
    deps.registry.alias(job.key, outcome.value.entry.key, request.format);
    job.end();
    return outcomeOf(outcome);
  } catch (err) {
    const e =
      deps.closing() && signal.aborted
        ? new AppError('SHUTTING_DOWN', 'the hub shut down', { cause: err })
        : err;
    job.fail(toAppError(e));
    throw e;
  } finally {
    deps.registry.remove(job);
    flights.running.delete(job);
    if (flights.running.size === 0) for (const resolve of flights.idleWaiters.splice(0)) resolve();
  }
}

/** What a live derivation of a flight's audio needs. */
function liveDeriveDeps(deps: FlightDeps): LiveDeriveDeps {
  const { registry, attemptDeps, audioDeps } = deps;
  const { cache, bitrateKbps, opus, pool } = attemptDeps;
  return { registry, cache, audioDeps, bitrateKbps, opus, pool };
}

/** The flights running now and who waits for none to run. */
interface FlightSet {
  running: Map<LiveJob, Flight>;
  idleWaiters: Array<() => void>;
}

/** See Flights.launch. */
function launch(
  deps: FlightDeps,
  flights: FlightSet,
  request: SayRequest,
  keyFor: (format: OutputFormat) => string,
  lookups: boolean,
  deadline: Deadline,
  mix: FlightMix | undefined,
): Flight {
  const key = keyFor(request.format);
  const job = deps.registry.create(key, request.format);
  // Built in two steps: the dispatch needs the flight (its deadline, reachedEngine), the audio its outcome.
  const flight = { job, controller: new AbortController(), waiting: 0, deadline, reachedEngine: false };
  // Registered before fly starts, so its `finally` (which removes it and wakes idle()) always runs after this.
  flights.running.set(job, flight as Flight);
  const outcome = fly(deps, flights, { request, job, flight: flight as Flight, lookups, mix });
  const final = outcome.then((o) => finalAudio(deps.audioDeps, o.produced.entry, o.produced.voice.keyFor));
  outcome.catch(() => {});
  final.catch(() => {});
  const derive = (other: OutputFormat): SayAudio =>
    deriveLive(liveDeriveDeps(deps), job, final, keyFor, other);
  const full: Flight = Object.assign(flight, {
    outcome,
    audio: liveAudio(deps.audioDeps, key, request.format, final, derive),
  });
  return full;
}

/** See Flights.wait. */
async function waitOn(flight: Flight, signal: AbortSignal | undefined): Promise<JobOutcome> {
  flight.waiting++;
  if (!signal) return flight.outcome;
  const onAbort = (): void => {
    if (--flight.waiting === 0) flight.controller.abort(signal.reason);
  };
  // A signal aborted already (a deadline passed during the cache lookup) fires no event: give up now.
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await untilAborted(flight.outcome, signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Creates an empty set of flights. */
export function createFlights(deps: FlightDeps): Flights {
  const flights: FlightSet = { running: new Map(), idleWaiters: [] };
  return {
    find(key, format) {
      const live = deps.registry.find(key, format);
      return live ? flights.running.get(live) : undefined;
    },
    launch: (request, keyFor, lookups, deadline, mix) =>
      launch(deps, flights, request, keyFor, lookups, deadline, mix),
    wait: waitOn,
    get size() {
      return flights.running.size;
    },
    abortAll(reason) {
      for (const f of flights.running.values()) f.controller.abort(reason);
    },
    idle() {
      if (flights.running.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => flights.idleWaiters.push(resolve));
    },
  };
}
