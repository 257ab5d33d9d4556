/**
 * The hub's status, assembled in one place: the health body (`/api/health`, the panel's events, the retained
 * `tts/status` topic), its throttled republishing after says and cache clears, and the Prometheus metrics fed by
 * the say, synthesis and recorder-totals events.
 */
import { cacheHitRatio } from '../cache/hit-ratio.js';
import type { CacheStore } from '../cache/store.js';
import type { HubEvents } from '../hub-events.js';
import type { HubGroup } from '../hub-group.js';
import type { MqttBus } from '../mqtt/client.js';
import type { RequestInbox } from '../mqtt/inbox-types.js';
import type { SayService } from '../say/service.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import { redactDeep } from '../shared/redact.js';
import type { Service } from '../shared/service.js';
import type { Dispatcher } from '../tts/dispatcher.js';
import type { HealthMonitor } from '../tts/health-monitor.js';
import { version } from '../version.js';
import { createMetrics, type HubMetrics } from './metrics.js';

/** The health body: `status` is `ok` or `degraded`; the rest as documented on GET /api/health. */
export type HealthBody = Record<string, unknown> & { status: string };

/** How often at most the status topic is republished after says, in ms. */
const STATUS_THROTTLE_MS = 1000;

/** What the status reads. */
export interface StatusDeps {
  sayService: SayService;
  dispatcher: Dispatcher;
  monitor: HealthMonitor;
  cache: CacheStore;
  inbox: RequestInbox;
  group: HubGroup;
  /** The bus once created, and the broker URL in use ('' before). */
  mqtt: { current(): MqttBus | undefined; brokerUrl(): string };
  events: EventHub<HubEvents>;
  log: Log;
}

/** The hub's status as the hub runs it. */
export interface StatusArea {
  /** The health body; never a credential (an mqtt.url with user:password, an engine URL in an error message). */
  health(): Promise<HealthBody>;
  readonly metrics: HubMetrics;
  /** Republishes the status within {@link STATUS_THROTTLE_MS} (after says and cache clears). */
  statusSoon(): void;
  /**
   * Publishes the status once connected and again on every engine health or cache health change (the "cache
   * degraded" binary sensor reads it); stop ends the listeners and the throttle.
   */
  readonly service: Service;
}

/** Builds the status; metrics listen from now on (says before the bus connects count too). */
export function buildStatus(deps: StatusDeps): StatusArea {
  const { log, events } = deps;
  const metrics = createMetrics({
    sayStats: () => deps.sayService.stats(),
    queueDepth: () => deps.dispatcher.queueDepth(),
    engineHealth: () => deps.monitor.snapshot(),
  });
  const health = () => healthBody(deps);
  const publishStatus = async (): Promise<void> => {
    const bus = deps.mqtt.current();
    if (!bus?.connected()) return;
    const body = await health();
    const payload = deps.group.name ? { ...body, hub: deps.group.self } : body;
    await bus.publish(deps.group.topics.status, JSON.stringify(payload), { qos: 1, retain: true });
  };
  const publishLogged = (): void => {
    publishStatus().catch((err) => log.warn({ err }, 'status publish failed'));
  };
  let statusTimer: NodeJS.Timeout | undefined;
  const statusSoon = (): void => {
    if (statusTimer) return;
    statusTimer = setTimeout(() => {
      statusTimer = undefined;
      publishLogged();
    }, STATUS_THROTTLE_MS);
  };
  const offs = [
    events.on('say', (event) => {
      metrics.observeSay(event);
      statusSoon();
    }),
    deps.dispatcher.speed.onObserve((sample) => metrics.observeSynthesis(sample)),
    events.on('recorderTotals', (totals) => metrics.setRecordedBytes(totals.total_bytes)),
  ];
  return {
    health,
    metrics,
    statusSoon,
    service: {
      name: 'status',
      async start() {
        deps.monitor.onChange = publishLogged;
        deps.cache.onHealthChange(publishLogged);
        await publishStatus();
      },
      async stop() {
        for (const off of offs) off();
        clearTimeout(statusTimer);
      },
    },
  };
}

/** The health body: engines, queue, cache, MQTT, problems the user must fix (for the panel's banner). */
async function healthBody(deps: StatusDeps): Promise<HealthBody> {
  const { cache, sayService, group } = deps;
  const bus = deps.mqtt.current();
  const engines = deps.monitor.snapshot();
  const anyHealthy = engines.some((e) => e.healthy);
  const cacheHealth = cache.health();
  // What the user must fix: engines that cannot run as configured, a refusing disk.
  const problems = engines
    .filter((e) => e.code === 'ENGINE_MISCONFIGURED')
    .map((e) => ({ engine: e.name, code: e.code as string, message: e.error ?? '' }));
  if (cacheHealth.degraded) {
    problems.push({
      engine: '',
      code: 'CACHE_DEGRADED',
      message: `the share volume refuses cache writes (${cacheHealth.degraded_reason}); new audio is kept in memory only`,
    });
  }
  // What /api/health, the panel's events and the retained status topic show holds no credential.
  return redactDeep({
    status: !bus?.connected() || !anyHealthy ? 'degraded' : 'ok',
    version,
    mqtt: { connected: bus?.connected() ?? false, url: deps.mqtt.brokerUrl() },
    engines,
    queue_depth: deps.dispatcher.queueDepth(),
    in_flight: sayService.inFlight(),
    requests: deps.inbox.depth(),
    cache: { ...cache.stats(), hit_ratio: cacheHitRatio(sayService.stats()), ...cacheHealth },
    problems,
    last_latency_ms: sayService.stats().lastLatencyMs,
    ...(group.name
      ? { group: { name: group.name, hub: group.self, online: group.peers()?.online() ?? [group.self] } }
      : {}),
  });
}
