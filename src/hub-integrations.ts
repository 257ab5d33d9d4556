/**
 * The hub's Home Assistant–facing extras, built from the options in one place so `hub.ts` stays a list of
 * services: Prometheus metrics, MQTT discovery (with the notify entity and clear-cache button), the Wyoming TTS
 * server, and the cron schedules. Lifecycle: `attach(bus)` before the bus connects (subscriptions), `start()`
 * after, `stop()` first when the hub stops.
 */
import { join } from 'node:path';
import type { CacheStore } from './cache/store.js';
import { type Options, sayPayloadLimitBytes, wyomingEventLimitBytes } from './config/schema.js';
import type { HubGroup } from './hub-group.js';
import type { MqttBus } from './mqtt/client.js';
import { slug } from './mqtt/discovery.js';
import {
  attachDiscovery,
  type DiscoveryOptions,
  type DiscoveryPublisher,
} from './mqtt/discovery-publisher.js';
import type { RequestInbox } from './mqtt/request-inbox.js';
import type { RequestDefaults } from './say/request.js';
import type { SayService } from './say/service.js';
import { createSchedules } from './schedules/schedule-adapter.js';
import type { EventHub, HubEvents } from './shared/events.js';
import type { Log } from './shared/log.js';
import { createMetrics, type HubMetrics } from './status/metrics.js';
import type { Dispatcher } from './tts/dispatcher.js';
import type { HealthMonitor } from './tts/health-monitor.js';
import type { VoiceCatalog } from './tts/voice-catalog.js';
import { version } from './version.js';
import { createWyomingServer, type WyomingServer } from './wyoming/server.js';
import { createSayTtsProvider } from './wyoming/tts-provider.js';

/**
 * Format and clean-up of requests that do not say, per kind of input: the notify entity and the Wyoming server
 * clean text by `text.clean`; the other inputs by `text.clean_requests`. The format is `default_format`.
 */
export function requestDefaults(options: Options, input: 'assistant' | 'requests'): RequestDefaults {
  return {
    format: options.default_format,
    clean: input === 'assistant' ? options.text.clean : options.text.clean_requests,
    urls: options.text.urls,
  };
}

/** How often at most the status topic is republished after says, in ms. */
const STATUS_THROTTLE_MS = 1000;

/** The extras, as the hub drives them. */
export interface Integrations {
  readonly metrics: HubMetrics;
  /** Subscribes discovery, command and recorder-total topics (the notify entity through `inbox`). */
  attach(bus: MqttBus, inbox: RequestInbox): Promise<void>;
  /** Publishes discovery (in the background), starts the Wyoming server and the schedules. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The Wyoming server's port, when it runs. */
  wyomingPort(): number | undefined;
}

/** The topic base of the hub's own command topics: the say topic's parent (`tts/say` → `tts`). */
export function commandBase(sayTopic: string): string {
  const i = sayTopic.lastIndexOf('/');
  return i > 0 ? sayTopic.slice(0, i) : sayTopic;
}

/** What the extras are built from. */
export interface IntegrationsOptions {
  options: Options;
  sayService: SayService;
  dispatcher: Dispatcher;
  cache: CacheStore;
  monitor: HealthMonitor;
  /** Every engine's voices, for the Wyoming server's one program. */
  voices: VoiceCatalog;
  events: EventHub<HubEvents>;
  baseUrl: string;
  /** The share group wiring (per-hub topics, the other hubs); a single hub has an empty name. */
  group: HubGroup;
  /** Republishes the hub status (after says and cache clears, throttled here). */
  publishStatus: () => Promise<void>;
  log: Log;
}

/** Builds the extras; nothing runs until `attach`/`start`. */
export function createIntegrations(opts: IntegrationsOptions): Integrations {
  const { options, log } = opts;
  const metrics = createMetrics({
    sayStats: () => opts.sayService.stats(),
    queueDepth: () => opts.dispatcher.queueDepth(),
    engineHealth: () => opts.monitor.snapshot(),
  });
  let statusTimer: NodeJS.Timeout | undefined;
  const statusSoon = (): void => {
    if (statusTimer) return;
    statusTimer = setTimeout(() => {
      statusTimer = undefined;
      opts.publishStatus().catch((err) => log.warn({ err }, 'status publish failed'));
    }, STATUS_THROTTLE_MS);
  };
  const offSay = opts.events.on('say', (event) => {
    metrics.observeSay(event);
    statusSoon();
  });
  const offSynthesis = opts.dispatcher.speed.onObserve((sample) => metrics.observeSynthesis(sample));
  const schedules = createSchedules({
    schedules: options.schedules,
    say: opts.sayService,
    maxTextChars: options.max_text_chars,
    defaults: requestDefaults(options, 'requests'),
    // In a share group every hub runs the timers; a claim file on the share volume lets one hub fire each time.
    ...(opts.group.name ? { claimDir: join(options.share_dir, '.data', 'schedules') } : {}),
    log: log.child({ mod: 'schedules' }),
  });
  const wyoming = wyomingServerOf(opts);
  let discovery: DiscoveryPublisher | undefined;
  let discoveryRun: Promise<void> | undefined;

  return {
    metrics,
    async attach(bus, inbox) {
      await bus.subscribe(`${options.topics.recorder}/status`, 0, (_t, payload) => {
        try {
          const totals = JSON.parse(payload.toString('utf8')) as { total_bytes?: unknown };
          if (typeof totals.total_bytes === 'number') metrics.setRecordedBytes(totals.total_bytes);
        } catch {
          // Not ours to validate: the recorder publishes this topic.
        }
      });
      discovery = await attachDiscovery(discoveryOptions(opts, bus, inbox, statusSoon));
    },
    async start() {
      // In the background: it waits briefly for the retained config of an earlier run.
      discoveryRun = discovery?.start().catch((err) => log.warn({ err }, 'discovery failed'));
      await wyoming?.start();
      schedules.start();
    },
    async stop() {
      offSay();
      offSynthesis();
      clearTimeout(statusTimer);
      schedules.stop();
      await wyoming?.stop();
      await discoveryRun;
      await discovery?.stop();
    },
    wyomingPort: () => wyoming?.port(),
  };
}

/** The Wyoming TTS server over the say service, when `wyoming_server.enabled`. */
function wyomingServerOf(opts: IntegrationsOptions): WyomingServer | undefined {
  const { options } = opts;
  if (!options.wyoming_server.enabled) return undefined;
  const eventBytes = wyomingEventLimitBytes(options);
  return createWyomingServer({
    port: options.wyoming_server.port,
    maxConnections: options.wyoming_server.max_connections,
    idleTimeoutMs: options.wyoming_server.idle_timeout_s * 1000,
    limits: {
      maxHeaderBytes: eventBytes,
      maxDataBytes: eventBytes,
      maxPayloadBytes: options.wyoming_server.max_payload_kb * 1024,
    },
    maxTextChars: options.max_text_chars,
    provider: createSayTtsProvider({
      sayService: opts.sayService,
      voices: opts.voices,
      engineNames: opts.dispatcher.entries.map((e) => e.engine.name),
      maxTextChars: options.max_text_chars,
      defaults: requestDefaults(options, 'assistant'),
      version,
    }),
    log: opts.log.child({ mod: 'wyoming-server' }),
  });
}

/** Discovery options from the hub's options: device id from the MQTT client id, commands beside the say topic. */
function discoveryOptions(
  opts: IntegrationsOptions,
  bus: MqttBus,
  inbox: RequestInbox,
  onCacheCleared: () => void,
): DiscoveryOptions {
  const { options, group } = opts;
  const base = commandBase(options.topics.say);
  const peers = group.peers();
  return {
    bus,
    enabled: options.topics.discovery,
    ...(group.name && peers
      ? { group: { name: group.name, peers, availabilityOf: group.topics.availabilityOf }, hub: group.self }
      : {}),
    context: {
      prefix: options.topics.discovery_prefix,
      deviceId: slug(options.mqtt.client_id) || 'tts_hub',
      version,
      configurationUrl: opts.baseUrl,
      topics: {
        status: group.topics.status,
        availability: group.topics.availability,
        recorder: options.topics.recorder,
        notify: `${base}/notify`,
        clearCache: `${base}/cache/clear`,
      },
      engines: opts.dispatcher.entries.map((e) => e.engine.name),
      engineInstances: Object.fromEntries(
        opts.dispatcher.entries.map((e) => [
          e.engine.name,
          opts.dispatcher.pool(e.engine.name).instances.map((i) => i.endpoint),
        ]),
      ),
    },
    resultTopic: options.topics.result,
    inbox,
    sayService: opts.sayService,
    cache: opts.cache,
    maxTextChars: options.max_text_chars,
    maxRecorderDevices: options.recorder.max_discovery_devices,
    maxPayloadBytes: sayPayloadLimitBytes(options),
    defaults: requestDefaults(options, 'assistant'),
    onCacheCleared,
    log: opts.log.child({ mod: 'discovery' }),
  };
}
