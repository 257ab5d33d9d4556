/**
 * The playback domain: resolves a request's targets, builds one sink and one queue per physical target, and
 * delivers finished audio to every target at once; each target's outcome is reported on its own, so one failing
 * target does not fail the others (DESIGN "MQTT": `targets: [{name, ok, error?}]`).
 */
import type { GroupOptions, TargetOptions } from '../config/schema.js';
import type { AudioPreset } from '../say/presets.js';
import type { SayRequest } from '../say/request.js';
import type { Delivery, DeliveryLedger, TargetOutcome } from '../say/service.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { deliverOne, type PlaybackState } from './deliver.js';
import { createHomeAssistantClient } from './home-assistant.js';
import { createPlayFinishedWaiters } from './play-finished.js';
import type { PublishFn } from './sink.js';
import { resolveTargets, specFromOptions, type TargetSpec } from './targets.js';

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

/** Builds the playback service; `targets[]` was checked when the options were loaded (`parseOptions`). */
export function createPlaybackService(opts: PlaybackOptions): PlaybackService {
  const configured = new Map(opts.targets.map((t) => [t.name, specFromOptions(t)]));
  const resolveOpts = { allowTcp: opts.allowTcpTargets ?? false };
  const groups = new Map((opts.groups ?? []).map((g) => [g.name, g.targets]));
  const st: PlaybackState = {
    log: opts.log,
    configured,
    deps: {
      homeAssistant: opts.supervisorToken
        ? createHomeAssistantClient({ supervisorUrl: opts.supervisorUrl, token: opts.supervisorToken })
        : undefined,
      publish: opts.publish,
      playFinished: createPlayFinishedWaiters(),
      log: opts.log,
    },
    queues: new Map(),
    sinks: new Map(),
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
      return Promise.all(deliveries.map((d) => deliverOne(st, request, d, t0, signal, ledger)));
    },
    playFinished(siteId, id) {
      if (!st.deps.playFinished.notify(siteId, id)) opts.log.debug({ siteId, id }, 'playFinished for nobody');
    },
    depth: () => [...st.queues.values()].reduce((n, q) => n + q.depth, 0),
    stop() {
      for (const queue of st.queues.values()) queue.abortAll(new AppError('SHUTTING_DOWN', 'shutting down'));
    },
  };
}
