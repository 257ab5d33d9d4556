import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { findFfmpeg } from './audio/ffmpeg.js';
import type { OutputFormat } from './audio/format.js';
import { createDeriver } from './cache/derive.js';
import { type CacheStore, createCacheStore } from './cache/store.js';
import type { LoadedConfig } from './config/load.js';
import { buildServer } from './http/server.js';
import { chooseBroker, type EmbeddedBroker } from './mqtt/broker.js';
import { createMqttBus, type MqttBus } from './mqtt/client.js';
import { attachSayTopic } from './mqtt/say-adapter.js';
import type { Log } from './shared/log.js';
import { createDispatcher, type Dispatcher, type EngineEntry } from './tts/dispatcher.js';
import { createEngine } from './tts/engines/index.js';
import { createHealthMonitor, type HealthMonitor } from './tts/health-monitor.js';
import { createSayService, type SayService } from './tts/say-service.js';
import { version } from './version.js';

/** The running hub: every service built from the options, started in order and stopped in reverse. */
export interface Hub {
  readonly sayService: SayService;
  readonly dispatcher: Dispatcher;
  readonly cache: CacheStore;
  readonly http: FastifyInstance;
  /** The base URL players use for audio. */
  readonly baseUrl: string;
  /** The broker URL in use. */
  brokerUrl(): string;
  start(signal?: AbortSignal): Promise<void>;
  /** Stops taking work, finishes or cancels in-flight work within `graceMs`, publishes offline. */
  stop(graceMs?: number): Promise<void>;
}

/** The first non-internal IPv4 address of this host, for URLs players on the LAN can reach. */
export function lanAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return '127.0.0.1';
}

/** Builds (does not start) the hub from loaded config. */
export async function createHub(config: LoadedConfig, log: Log): Promise<Hub> {
  const { options } = config;
  findFfmpeg();
  const baseUrl = (options.http.external_url || `http://${lanAddress()}:${options.http.port}`).replace(
    /\/+$/,
    '',
  );
  const cache = createCacheStore({
    dir: join(options.share_dir, 'cache'),
    maxEntries: options.cache.max_entries,
    maxBytes: options.cache.max_mb * 1024 * 1024,
    log: log.child({ mod: 'cache' }),
  });
  const entries: EngineEntry[] = options.engines.map((e) => ({
    engine: createEngine(e, { log: log.child({ mod: 'engine', engine: e.name }) }),
    maxParallel: e.max_parallel,
    timeoutMs: e.timeout_s * 1000,
    gainDb: e.gain_db,
    voice: e.voice,
    speaker: e.speaker,
    language: e.language,
  }));
  const dispatcher = createDispatcher({
    entries,
    defaultEngine: options.default_engine,
    log: log.child({ mod: 'dispatch' }),
  });
  const monitor: HealthMonitor = createHealthMonitor({ entries, log: log.child({ mod: 'health' }) });
  const sayService = createSayService({
    dispatcher,
    cache,
    deriver: createDeriver({ cache, bitrateKbps: options.opus.bitrate_kbps }),
    cacheLookups: options.cache.enabled,
    bitrateKbps: options.opus.bitrate_kbps,
    audioUrl: (key: string, format: OutputFormat) => `${baseUrl}/api/audio/${key}.${format}`,
    log: log.child({ mod: 'say' }),
  });
  let bus: MqttBus | undefined;
  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = '';

  const health = async () => {
    const engines = monitor.snapshot();
    const anyHealthy = engines.some((e) => e.healthy);
    return {
      status: !bus?.connected() || !anyHealthy ? 'degraded' : 'ok',
      version,
      mqtt: { connected: bus?.connected() ?? false, url: brokerUrl },
      engines,
      queue_depth: dispatcher.queueDepth(),
      in_flight: sayService.inFlight(),
      cache: cache.stats(),
    };
  };
  const http = await buildServer({ sayService, cache, health, maxTextChars: options.max_text_chars, log });

  const publishStatus = async (): Promise<void> => {
    if (!bus?.connected()) return;
    const body = await health();
    await bus.publish(options.topics.status, JSON.stringify(body), { qos: 1, retain: true });
  };

  return {
    sayService,
    dispatcher,
    cache,
    http,
    baseUrl,
    brokerUrl: () => brokerUrl,
    async start(signal) {
      await cache.start();
      await monitor.start();
      await http.listen({ port: options.http.port, host: '0.0.0.0' });
      const chosen = await chooseBroker({
        ...options.mqtt,
        supervisorUrl: config.supervisorUrl,
        supervisorToken: config.supervisorToken,
        log: log.child({ mod: 'mqtt' }),
      });
      embedded = chosen.embedded;
      brokerUrl = chosen.choice.url;
      bus = createMqttBus({
        url: chosen.choice.url,
        username: chosen.choice.username,
        password: chosen.choice.password,
        clientId: options.mqtt.client_id,
        availabilityTopic: options.topics.availability,
        protocolVersion: chosen.embedded ? 4 : 5,
        log: log.child({ mod: 'mqtt' }),
      });
      // Handlers first: a persistent session delivers requests queued while the hub was down right after CONNACK.
      await attachSayTopic({
        bus,
        sayTopic: options.topics.say,
        resultTopic: options.topics.result,
        sayService,
        maxTextChars: options.max_text_chars,
        log: log.child({ mod: 'mqtt-say' }),
      });
      await bus.start(signal);
      monitor.onChange = () => {
        publishStatus().catch((err) => log.warn({ err }, 'status publish failed'));
      };
      await publishStatus();
      log.info(
        {
          http: baseUrl,
          mqtt: brokerUrl,
          source: chosen.choice.source,
          engines: entries.map((e) => e.engine.name),
        },
        'hub started',
      );
    },
    async stop(graceMs = 8000) {
      await http.close().catch(() => {});
      await sayService.stop(graceMs);
      monitor.stop();
      await bus?.stop().catch((err) => log.warn({ err }, 'mqtt stop failed'));
      await embedded?.stop();
    },
  };
}
