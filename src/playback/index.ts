/**
 * The playback domain: resolves a request's targets, builds one sink and one queue per physical target, and
 * delivers finished audio to every target at once; each target's outcome is reported on its own, so one failing
 * target does not fail the others (DESIGN "MQTT": `targets: [{name, ok, error?}]`).
 */
import type { TargetOptions } from '../config/schema.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { SayRequest } from '../tts/say-request.js';
import type { DeliveryLedger, SayAudio, TargetOutcome } from '../tts/say-service.js';
import { createHomeAssistantClient } from './home-assistant.js';
import { createPlayFinishedWaiters } from './play-finished.js';
import { TargetQueue } from './queue.js';
import type { PublishFn, Sink, SinkDeps } from './sink.js';
import { SINK_FACTORIES } from './sinks/index.js';
import { resolveTargets, specFromOptions, type TargetSpec } from './targets.js';

export type { PublishFn } from './sink.js';
export type { TargetSpec } from './targets.js';

/** The playback service the say service delivers through. */
export interface PlaybackService {
  /**
   * Checks that every name is a configured target or an ad-hoc address.
   * @throws AppError TARGET_NOT_FOUND.
   */
  checkTargets(names: string[]): void;
  /**
   * Plays `audio` on each of the request's targets (each in its own queue; `priority: "high"` interrupts a
   * normal delivery on that target) and resolves with one outcome per distinct target name, in request order.
   * Never rejects for a target's failure.
   */
  deliver(
    request: SayRequest,
    audio: SayAudio,
    signal: AbortSignal,
    ledger?: DeliveryLedger,
  ): Promise<TargetOutcome[]>;
  /** Reports a Hermes `playFinished` (`hermes/audioServer/<siteId>/playFinished` `{id}`); from the MQTT adapter. */
  playFinished(siteId: string, id: string): void;
  /** Deliveries playing or waiting, over all targets. */
  depth(): number;
  /** Aborts every delivery (shutdown). */
  stop(): void;
}

/** Options of the playback service. */
export interface PlaybackOptions {
  /** The `targets[]` option, already checked by `parseOptions` (unique names, required fields). */
  targets: TargetOptions[];
  /** Base URL of the Supervisor API (its `/core/api` proxies Home Assistant Core). */
  supervisorUrl: string;
  /** `SUPERVISOR_TOKEN`; without it media_player and assist_satellite targets report SINK_UNREACHABLE. */
  supervisorToken: string | undefined;
  /** Publishes on the hub's MQTT connection (Hermes and MQTT targets). */
  publish: PublishFn;
  log: Log;
}

/** Builds the playback service; `targets[]` was checked when the options were loaded (`parseOptions`). */
export function createPlaybackService(opts: PlaybackOptions): PlaybackService {
  const configured = new Map(opts.targets.map((t) => [t.name, specFromOptions(t)]));
  const deps: SinkDeps = {
    homeAssistant: opts.supervisorToken
      ? createHomeAssistantClient({ supervisorUrl: opts.supervisorUrl, token: opts.supervisorToken })
      : undefined,
    publish: opts.publish,
    playFinished: createPlayFinishedWaiters(),
    log: opts.log,
  };
  // One queue per physical target; one sink per name (a named target and an ad-hoc address for the same
  // speaker share the queue but keep their own settings).
  const queues = new Map<string, TargetQueue>();
  const sinks = new Map<string, Sink>();

  const laneFor = (spec: TargetSpec): { sink: Sink; queue: TargetQueue } => {
    let queue = queues.get(spec.key);
    if (!queue) {
      queue = new TargetQueue(spec.name);
      queues.set(spec.key, queue);
    }
    const sinkKey = `${spec.key}\u0000${spec.name}`;
    let sink = sinks.get(sinkKey);
    if (!sink) {
      sink = SINK_FACTORIES[spec.type](spec, deps);
      sinks.set(sinkKey, sink);
    }
    return { sink, queue };
  };

  const deliverOne = async (
    spec: TargetSpec,
    request: SayRequest,
    audio: SayAudio,
    signal: AbortSignal,
    ledger: DeliveryLedger | undefined,
  ): Promise<TargetOutcome> => {
    if (ledger) {
      await ledger.ready;
      if (ledger.delivered(spec.name)) {
        opts.log.info({ id: request.id, target: spec.name }, 'target already played this request; not again');
        return { name: spec.name, ok: true };
      }
    }
    const { sink, queue } = laneFor(spec);
    let taken = false;
    /** True between `claim` and the delivery: a failure then takes the claim back. */
    let claimedOnly = false;
    const accepted = (): void => {
      claimedOnly = false;
      if (taken) return;
      taken = true;
      ledger?.record(spec.name);
    };
    const claim = async (): Promise<void> => {
      if (taken || !ledger) return;
      taken = true;
      claimedOnly = true;
      await ledger.commit(spec.name);
    };
    const ctx = {
      id: request.id,
      text: request.text,
      format: request.format,
      volume: request.volume,
      accepted,
      claim,
    };
    const t0 = performance.now();
    try {
      await queue.run(request.priority, signal, (s) => sink.play(audio, ctx, s));
      accepted();
      opts.log.info(
        { id: request.id, target: spec.name, type: spec.type, ms: Math.round(performance.now() - t0) },
        'played',
      );
      return { name: spec.name, ok: true };
    } catch (err) {
      if (claimedOnly) ledger?.forget(spec.name);
      const e = toAppError(err, 'SINK_FAILED');
      opts.log.warn({ id: request.id, target: spec.name, code: e.code, err: e.message }, 'target failed');
      return { name: spec.name, ok: false, error: `${e.code}: ${e.message}` };
    }
  };

  return {
    checkTargets(names) {
      resolveTargets(names, configured);
    },
    async deliver(request, audio, signal, ledger) {
      const specs = resolveTargets(request.targets, configured);
      return Promise.all(specs.map((spec) => deliverOne(spec, request, audio, signal, ledger)));
    },
    playFinished(siteId, id) {
      if (!deps.playFinished.notify(siteId, id)) opts.log.debug({ siteId, id }, 'playFinished for nobody');
    },
    depth: () => [...queues.values()].reduce((n, q) => n + q.depth, 0),
    stop() {
      for (const queue of queues.values()) queue.abortAll(new AppError('SHUTTING_DOWN', 'shutting down'));
    },
  };
}
