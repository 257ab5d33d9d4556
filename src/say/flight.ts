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
import type { Dispatcher, EngineEntry } from '../tts/dispatcher.js';
import {
  finalAudio,
  findCached,
  liveAudio,
  type SayAudio,
  type SayAudioDeps,
  untilAborted,
} from './audio.js';
import { type AttemptDeps, attemptVoice, type Produced, replayEntry, runAttempt } from './job.js';
import type { LiveJob, LiveRegistry } from './live-audio.js';
import { deriveLive } from './live-derive.js';
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

/** Creates an empty set of flights. */
export function createFlights(deps: FlightDeps): Flights {
  const { dispatcher, registry, attemptDeps, audioDeps } = deps;
  const flights = new Map<LiveJob, Flight>();
  const idleWaiters: Array<() => void> = [];

  /** Runs the dispatch of a new live job; the job ends (entry committed) or fails before this settles. */
  async function fly(
    request: SayRequest,
    job: LiveJob,
    flight: Flight,
    lookups: boolean,
    mix: FlightMix | undefined,
  ): Promise<JobOutcome> {
    const signal = flight.controller.signal;
    try {
      const outcome = await dispatcher.run(
        request.engine,
        signal,
        async (entry, sig, isFallback, instance): Promise<Produced> => {
          flight.reachedEngine = true;
          const t0 = performance.now();
          const voice = attemptVoice(request, entry, isFallback, deps.loudnorm(entry), mix?.key);
          job.restart(
            new AppError('ENGINE_FAILED', 'the engine failed mid-stream; a fallback engine starts over'),
          );
          const key = voice.keyFor(request.format);
          const hit =
            key !== job.key && lookups
              ? await findCached(audioDeps, voice.keyFor, request.format, sig)
              : undefined;
          if (hit) return { entry: hit, voice, cached: true, firstAudioAt: await replayEntry(hit, job, sig) };
          const produced = await runAttempt(
            attemptDeps,
            { request, entry, voice, job, lookups, loudnorm: deps.loudnorm(entry), mix: mix?.plan },
            sig,
          );
          // Chimes mixed in would count as the engine's audio: such syntheses are left out of its speed.
          if (produced.synthesized && !mix?.plan) {
            dispatcher.speed.observe({
              engine: entry.engine.name,
              endpoint: instance.endpoint,
              ms: produced.engineMs ?? performance.now() - t0,
              wallMs: performance.now() - t0,
              chars: request.text.length,
              audioMs: produced.entry.durationMs,
            });
          }
          return produced;
        },
        { priority: request.priority, deadline: flight.deadline, chars: request.text.length },
      );
      const produced = outcome.value;
      registry.alias(job.key, produced.entry.key, request.format);
      job.end();
      const several = outcome.engine.instances !== undefined && outcome.engine.instances.length > 1;
      return {
        produced,
        engine: outcome.engine.engine.name,
        ...(several ? { instance: outcome.instance.endpoint } : {}),
        fallbackFrom: outcome.fallbackFrom,
      };
    } catch (err) {
      const e =
        deps.closing() && signal.aborted
          ? new AppError('SHUTTING_DOWN', 'the hub shut down', { cause: err })
          : err;
      job.fail(toAppError(e));
      throw e;
    } finally {
      registry.remove(job);
      flights.delete(job);
      if (flights.size === 0) for (const resolve of idleWaiters.splice(0)) resolve();
    }
  }

  return {
    find(key, format) {
      const live = registry.find(key, format);
      return live ? flights.get(live) : undefined;
    },
    launch(request, keyFor, lookups, deadline, mix) {
      const key = keyFor(request.format);
      const job = registry.create(key, request.format);
      // Built in two steps: the dispatch needs the flight (its deadline, reachedEngine), the audio its outcome.
      const flight = { job, controller: new AbortController(), waiting: 0, deadline, reachedEngine: false };
      const outcome = fly(request, job, flight as Flight, lookups, mix);
      const final = outcome.then((o) => finalAudio(audioDeps, o.produced.entry, o.produced.voice.keyFor));
      outcome.catch(() => {});
      final.catch(() => {});
      const full: Flight = Object.assign(flight, {
        outcome,
        audio: liveAudio(audioDeps, key, request.format, final, (other) =>
          deriveLive(
            {
              registry,
              cache: attemptDeps.cache,
              audioDeps,
              bitrateKbps: attemptDeps.bitrateKbps,
              opus: attemptDeps.opus,
              pool: attemptDeps.pool,
            },
            job,
            final,
            keyFor,
            other,
          ),
        ),
      });
      flights.set(job, full);
      return full;
    },
    async wait(flight, signal) {
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
    },
    get size() {
      return flights.size;
    },
    abortAll(reason) {
      for (const f of flights.values()) f.controller.abort(reason);
    },
    idle() {
      if (flights.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
