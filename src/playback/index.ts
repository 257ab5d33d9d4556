/**
 * The playback domain: resolves a request's targets, builds one sink and one queue per physical target, and
 * delivers finished audio to every target at once; each target's outcome is reported on its own, so one failing
 * target does not fail the others (DESIGN "MQTT": `targets: [{name, ok, error?}]`).
 */
import type { GroupOptions, TargetOptions } from '../config/schema.js';
import type { AudioPreset } from '../say/presets.js';
import type { SayRequest } from '../say/request.js';
import type { Delivery, DeliveryLedger, PlayEnd, TargetOutcome } from '../say/service.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { createHomeAssistantClient } from './home-assistant.js';
import { createPlayFinishedWaiters } from './play-finished.js';
import { TargetQueue } from './queue.js';
import type { PlayContext, PublishFn, Sink, SinkDeps } from './sink.js';
import { SINK_FACTORIES } from './sinks/index.js';
import { adHocSpec, resolveTargets, specFromOptions, type TargetSpec } from './targets.js';

export type { PublishFn } from './sink.js';
export type { TargetSpec } from './targets.js';

/** The playback service the say service delivers through. */
export interface PlaybackService {
  /**
   * The targets `names` stand for: groups expanded to their members, configured targets with their presets,
   * ad-hoc addresses; each target once, in request order.
   * @throws AppError TARGET_NOT_FOUND.
   */
  plan(names: string[]): TargetSpec[];
  /** The audio preset of a configured target. @throws AppError TARGET_NOT_FOUND. */
  presetOf(name: string): AudioPreset;
  /** Configured targets and groups, for the panel's pickers (GET /api/targets). */
  describe(): { targets: TargetSpec[]; groups: GroupOptions[] };
  /**
   * Plays each delivery's audio on its target, all at once (each target in its own queue; `priority: "high"`
   * interrupts a normal delivery on that target) and resolves with one outcome per delivery, in order.
   * Never rejects for a target's failure.
   */
  deliver(
    request: SayRequest,
    deliveries: Delivery[],
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
  /** The `groups[]` option, already checked by `parseOptions` (known members). */
  groups?: GroupOptions[];
  /** Base URL of the Supervisor API (its `/core/api` proxies Home Assistant Core). */
  supervisorUrl: string;
  /** `SUPERVISOR_TOKEN`; without it media_player and assist_satellite targets report SINK_UNREACHABLE. */
  supervisorToken: string | undefined;
  /** Publishes on the hub's MQTT connection (Hermes and MQTT targets). */
  publish: PublishFn;
  /** Accept ad-hoc `tcp://host:port` targets in requests (option `limits.allow_tcp_targets`); default false. */
  allowTcpTargets?: boolean;
  log: Log;
}

/**
 * A request's deadline while it waits for its turn on a target: `signal` also aborts with DEADLINE_EXCEEDED
 * when the deadline (`performance.now()` ms) passes first, and `started()` (its turn came) ends the watch, so
 * speech that began in time is never cut; it throws DEADLINE_EXCEEDED for a turn that came after the deadline
 * (no late speech). `stop()` ends the watch in any case.
 */
function lateGuard(
  target: string,
  deadlineAt: number | undefined,
  signal: AbortSignal,
): { signal: AbortSignal; started(): void; stop(): void } {
  if (deadlineAt === undefined || !Number.isFinite(deadlineAt)) {
    return { signal, started: () => {}, stop: () => {} };
  }
  const controller = new AbortController();
  const late = (): AppError =>
    new AppError(
      'DEADLINE_EXCEEDED',
      `target '${target}' was still busy when the request's deadline passed; not played late`,
    );
  const timer = setTimeout(() => controller.abort(late()), Math.max(0, deadlineAt - performance.now()));
  timer.unref();
  return {
    signal: AbortSignal.any([signal, controller.signal]),
    started() {
      clearTimeout(timer);
      if (performance.now() > deadlineAt) throw late();
    },
    stop: () => clearTimeout(timer),
  };
}

/** Builds the playback service; `targets[]` was checked when the options were loaded (`parseOptions`). */
export function createPlaybackService(opts: PlaybackOptions): PlaybackService {
  const configured = new Map(opts.targets.map((t) => [t.name, specFromOptions(t)]));
  const resolveOpts = { allowTcp: opts.allowTcpTargets ?? false };
  const groups = new Map((opts.groups ?? []).map((g) => [g.name, g.targets]));
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
    request: SayRequest,
    delivery: Delivery,
    t0: number,
    signal: AbortSignal,
    ledger: DeliveryLedger | undefined,
  ): Promise<TargetOutcome> => {
    const { name, group } = delivery.target;
    const spec = configured.get(name) ?? adHocSpec(name);
    const base: TargetOutcome = group === undefined ? { name, ok: false } : { name, group, ok: false };
    /** True between `claim` and the delivery: a failure then takes the claim back. */
    let claimedOnly = false;
    try {
      if (!spec) throw new AppError('TARGET_NOT_FOUND', `target '${name}' is not configured`);
      if (ledger) {
        await ledger.ready;
        if (ledger.delivered(name)) {
          opts.log.info({ id: request.id, target: name }, 'target already played this request; not again');
          return { ...base, ok: true };
        }
      }
      const audio = await delivery.audio;
      if (delivery.variant) base.url = audio.url;
      const { sink, queue } = laneFor(spec);
      let taken = false;
      const accepted = (): void => {
        claimedOnly = false;
        if (taken) return;
        taken = true;
        ledger?.record(name);
      };
      const claim = async (): Promise<void> => {
        if (taken || !ledger) return;
        taken = true;
        claimedOnly = true;
        await ledger.commit(name);
      };
      const ctx: PlayContext = {
        id: request.id,
        text: request.text,
        format: request.format,
        formatGiven: request.formatGiven ?? false,
        volume: request.volume,
        announce: request.announce,
        mediaContentType: request.mediaContentType,
        waitAll: request.waitAll ?? false,
        accepted,
        claim,
      };
      let end: PlayEnd | undefined;
      const late = lateGuard(name, request.deadlineAt, signal);
      try {
        await queue.run(request.priority, late.signal, async (s) => {
          late.started();
          end = (await sink.play(audio, ctx, s)) ?? 'estimated';
        });
      } finally {
        late.stop();
      }
      accepted();
      const ms = Math.round(performance.now() - t0);
      opts.log.info({ id: request.id, target: name, group, type: spec.type, ms, end }, 'played');
      const outcome: TargetOutcome = { ...base, ok: true };
      if (request.waitAll) Object.assign(outcome, { end, endedMs: ms });
      return outcome;
    } catch (err) {
      if (claimedOnly) ledger?.forget(name);
      const e = toAppError(err, 'SINK_FAILED');
      opts.log.warn({ id: request.id, target: name, group, code: e.code, err: e.message }, 'target failed');
      return { ...base, error: `${e.code}: ${e.message}` };
    }
  };

  return {
    plan: (names) => resolveTargets(names, configured, groups, resolveOpts),
    presetOf(name) {
      const spec = configured.get(name);
      if (!spec) {
        throw new AppError(
          'TARGET_NOT_FOUND',
          `preset '${name}' is not a configured target; configured targets: ${[...configured.keys()].join(', ') || 'none'}`,
        );
      }
      return spec.preset;
    },
    describe: () => ({ targets: [...configured.values()], groups: opts.groups ?? [] }),
    async deliver(request, deliveries, signal, ledger) {
      const t0 = performance.now();
      return Promise.all(deliveries.map((d) => deliverOne(request, d, t0, signal, ledger)));
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
