import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { findFfmpeg, setFfmpegLimit } from './audio/ffmpeg.js';
import type { OutputFormat } from './audio/format.js';
import { chooseOpusEncoder } from './audio/inprocess-encoder.js';
import { createDeriver } from './cache/derive.js';
import { type CacheStore, createCacheStore } from './cache/store.js';
import { createAudioUrlKeys, loadUrlSecret } from './cache/url-keys.js';
import { createChimeLibrary, NO_CHIME } from './chimes/library.js';
import type { LoadedConfig } from './config/load.js';
import { resolvePublicBaseUrl } from './config/public-url.js';
import { sayPayloadLimitBytes } from './config/schema.js';
import { type BrokerTarget, runDoctor } from './doctor/index.js';
import { cacheHitRatio } from './http/routes/cache.js';
import { buildServer } from './http/server.js';
import { createHubGroup } from './hub-group.js';
import { createIntegrations, requestDefaults } from './hub-integrations.js';
import { chooseBroker, type EmbeddedBroker } from './mqtt/broker.js';
import { createMqttBus, type MqttBus } from './mqtt/client.js';
import { attachHermes } from './mqtt/hermes-adapter.js';
import { createRecorderWiring } from './mqtt/recorder-adapter.js';
import { createRequestInbox, type RequestInbox } from './mqtt/request-inbox.js';
import { createRequestJournal } from './mqtt/request-journal.js';
import { attachSayTopic } from './mqtt/say-adapter.js';
import { createPlaybackService } from './playback/index.js';
import { DEFAULT_MIX_FORMAT } from './say/chimes.js';
import { createSayService, type SayService } from './say/service.js';
import { createEventHub, type EventHub, type HubEvents, observeSay } from './shared/events.js';
import type { Log } from './shared/log.js';
import { redactCredentials, redactDeep } from './shared/redact.js';
import { createDispatcher, type Dispatcher, type EngineEntry } from './tts/dispatcher.js';
import { createEngineEntries } from './tts/engine-entries.js';
import { createHealthMonitor, type HealthMonitor } from './tts/health-monitor.js';
import { createVoiceCatalog } from './tts/voice-catalog.js';
import { version } from './version.js';

/** The running hub: every service built from the options, started in order and stopped in reverse. */
export interface Hub {
  readonly sayService: SayService;
  readonly dispatcher: Dispatcher;
  readonly cache: CacheStore;
  readonly http: FastifyInstance;
  /** The hub's events (finished says, recorder status), as streamed to the panel. */
  readonly events: EventHub<HubEvents>;
  /** The base URL players use for audio. */
  readonly baseUrl: string;
  /**
   * The cache key behind an audio URL (or its `<url key>.<ext>` name) this hub handed out; undefined for others.
   * Audio URLs carry a capability key, not the cache key (src/cache/url-keys.ts).
   */
  cacheKeyOfUrl(url: string): string | undefined;
  /** The broker URL in use. */
  brokerUrl(): string;
  start(signal?: AbortSignal): Promise<void>;
  /** Stops taking work, finishes or cancels in-flight work within `graceMs`, publishes offline. */
  stop(graceMs?: number): Promise<void>;
}

/** Chimes the options name (targets' presets, schedules), to decode at start. */
function namedChimes(options: LoadedConfig['options']): string[] {
  const names = [
    ...options.targets.flatMap((t) => [t.chime, t.chime_after]),
    ...options.schedules.flatMap((s) => [s.chime, s.chime_after]),
  ];
  return names.filter((n): n is string => n !== undefined && n !== '' && n !== NO_CHIME);
}

/** Builds (does not start) the hub from loaded config. */
export async function createHub(config: LoadedConfig, log: Log): Promise<Hub> {
  const { options } = config;
  findFfmpeg();
  setFfmpegLimit(options.limits.ffmpeg_processes);
  const opusEncoder = await chooseOpusEncoder(options.opus.encoder, log.child({ mod: 'audio' }));
  // Inside the add-on the container's own address and port are unreachable from players: ask the Supervisor.
  const baseUrl = await resolvePublicBaseUrl({
    externalUrl: options.http.external_url,
    httpPort: options.http.port,
    supervisorUrl: config.supervisorUrl,
    supervisorToken: config.supervisorToken,
    log,
  });
  const urlKeys = createAudioUrlKeys({
    secret: await loadUrlSecret(config.dataDir, log),
    maxRemembered: Math.max(4 * options.cache.max_entries, 10_000),
  });
  const cache = createCacheStore({
    dir: join(options.share_dir, 'cache'),
    maxEntries: options.cache.max_entries,
    maxBytes: options.cache.max_mb * 1024 * 1024,
    memoryMaxBytes: options.cache.memory_mb * 1024 * 1024,
    // Hubs of a share group use one cache folder: each follows the others' adds and removes.
    ...(options.mqtt.share_group ? { shared: { hubId: options.mqtt.client_id } } : {}),
    log,
  });
  const entries: EngineEntry[] = createEngineEntries(options.engines, { log, shareDir: options.share_dir });
  const dispatcher = createDispatcher({
    entries,
    defaultEngine: options.default_engine,
    log: log.child({ mod: 'dispatch' }),
  });
  const monitor: HealthMonitor = createHealthMonitor({
    entries,
    dispatcher,
    log: log.child({ mod: 'health' }),
  });
  const events = createEventHub<HubEvents>(log.child({ mod: 'events' }));
  // Targets: Home Assistant through the Supervisor; Hermes/MQTT targets publish on the bus once it exists.
  const chimes = createChimeLibrary({
    userDir: join(options.share_dir, 'chimes'),
    maxDurationMs: options.chimes.max_duration_s * 1000,
    log: log.child({ mod: 'chimes' }),
  });
  const playback = createPlaybackService({
    targets: options.targets,
    groups: options.groups,
    supervisorUrl: config.supervisorUrl,
    supervisorToken: config.supervisorToken,
    allowTcpTargets: options.limits.allow_tcp_targets,
    publish: async (topic, payload, opts) => {
      if (!bus) throw new Error('MQTT is not connected yet');
      await bus.publish(topic, payload, opts);
    },
    log: log.child({ mod: 'playback' }),
  });
  // Every input's says reach the panel's event stream through this wrapper.
  const sayService = observeSay(
    createSayService({
      dispatcher,
      cache,
      deriver: createDeriver({ cache, bitrateKbps: options.opus.bitrate_kbps }),
      cacheLookups: options.cache.enabled,
      bitrateKbps: options.opus.bitrate_kbps,
      opusEncoder,
      opusComplexity: options.opus.complexity,
      audioUrl: (key: string, format: OutputFormat) =>
        `${baseUrl}/api/audio/${urlKeys.urlKey(key)}.${format}`,
      planTargets: (names) => playback.plan(names),
      presetOf: (name) => playback.presetOf(name),
      deliver: (request, deliveries, signal, ledger) => playback.deliver(request, deliveries, signal, ledger),
      chimes,
      loudnormEngines: new Set(options.engines.filter((e) => e.loudnorm).map((e) => e.name)),
      defaultDeadlineMs: options.default_deadline_s * 1000,
      log: log.child({ mod: 'say' }),
    }),
    events,
  );
  // Several hubs on one broker (mqtt.share_group): per-hub topics, journal on the share volume, takeover.
  const group = createHubGroup(config, log);
  // Recorder: status on `${topics.recorder}/<device>/status` and `${topics.recorder}/status` (retained, QoS 1).
  const recording = options.recorder.enabled
    ? createRecorderWiring({
        options: options.recorder,
        microphones: options.microphones,
        shareDir: options.share_dir,
        prefix: options.topics.recorder,
        hermes: options.topics.hermes,
        baseUrl,
        log,
        onDeviceStatus: (payload) => events.emit('recorder', payload),
        ...(group.name ? { share: { hubId: group.self, peers: () => group.peers() } } : {}),
      })
    : undefined;
  let bus: MqttBus | undefined;
  let broker: BrokerTarget | undefined;
  // At-least-once intake of MQTT say requests, journaled in the hub's data dir (the share volume in a group).
  const inbox: RequestInbox = createRequestInbox({
    journal: createRequestJournal({ dir: group.journalDir, log: log.child({ mod: 'journal' }) }),
    session: options.mqtt.client_id,
    maxInFlight: options.mqtt.max_in_flight,
    maxPending: options.mqtt.max_pending,
    maxAttempts: options.mqtt.max_attempts,
    log: log.child({ mod: 'inbox' }),
  });
  let embedded: EmbeddedBroker | undefined;
  let brokerUrl = '';

  // Every engine's voices as one list, for Home Assistant (Wyoming) and OpenAI-speech clients.
  const voices = createVoiceCatalog({ entries });
  // Metrics, discovery (notify entity, clear-cache button), the Wyoming server and schedules.
  const integrations = createIntegrations({
    options,
    sayService,
    dispatcher,
    cache,
    monitor,
    voices,
    events,
    baseUrl,
    group,
    publishStatus: () => publishStatus(),
    log,
  });
  // What /api/health, the panel's events and the retained status topic show: never a credential (an
  // mqtt.url with user:password, an engine URL quoted in an error message).
  const health = async () => {
    const engines = monitor.snapshot();
    const anyHealthy = engines.some((e) => e.healthy);
    const cacheHealth = cache.health();
    // What the user must fix, for the panel's banner: engines that cannot run as configured, a refusing disk.
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
    // What /api/health, the panel's events and the retained status topic show holds no credential (an
    // mqtt.url with user:password, an engine URL quoted in an error message).
    return redactDeep({
      status: !bus?.connected() || !anyHealthy ? 'degraded' : 'ok',
      version,
      mqtt: { connected: bus?.connected() ?? false, url: brokerUrl },
      engines,
      queue_depth: dispatcher.queueDepth(),
      in_flight: sayService.inFlight(),
      requests: inbox.depth(),
      cache: { ...cache.stats(), hit_ratio: cacheHitRatio(sayService.stats()), ...cacheHealth },
      problems,
      last_latency_ms: sayService.stats().lastLatencyMs,
      ...(group.name
        ? { group: { name: group.name, hub: group.self, online: group.peers()?.online() ?? [group.self] } }
        : {}),
    });
  };
  const http = await buildServer({
    sayService,
    cache,
    health,
    dispatcher,
    monitor,
    maxTextChars: options.max_text_chars,
    requestDefaults: requestDefaults(options, 'requests'),
    log,
    events,
    cacheLimits: { maxEntries: options.cache.max_entries, maxBytes: options.cache.max_mb * 1024 * 1024 },
    apiToken: options.http.api_token,
    metrics: integrations.metrics,
    bitrateKbps: options.opus.bitrate_kbps,
    voices,
    bodyLimits: { say: sayPayloadLimitBytes(options), other: options.limits.http_body_kb * 1024 },
    cacheKeyOf: (urlKey) => urlKeys.cacheKeyOf(urlKey),
    doctor: () =>
      runDoctor({
        options,
        entries,
        broker: broker ?? { url: 'mqtt://127.0.0.1:1883', source: 'none' },
        inAddon: config.supervisorToken !== undefined,
      }),
    ...(recording ? { recorder: recording.recorder } : {}),
    chimes,
    targets: () => playback.describe(),
  });

  const publishStatus = async (): Promise<void> => {
    if (!bus?.connected()) return;
    const body = await health();
    const payload = group.name ? { ...body, hub: group.self } : body;
    await bus.publish(group.topics.status, JSON.stringify(payload), { qos: 1, retain: true });
  };

  return {
    sayService,
    events,
    dispatcher,
    cache,
    http,
    baseUrl,
    brokerUrl: () => brokerUrl,
    cacheKeyOfUrl: (url) => {
      const urlKey = /([0-9a-f]{64})\.(?:opus|mp3|wav)$/.exec(url)?.[1];
      return urlKey === undefined ? undefined : urlKeys.cacheKeyOf(urlKey);
    },
    async start(signal) {
      await cache.start();
      // URLs handed out before a restart stay valid: the secret persists, the mapping is rebuilt here.
      for (const key of cache.keys()) urlKeys.urlKey(key);
      await chimes.start({ names: namedChimes(options), format: DEFAULT_MIX_FORMAT });
      await monitor.start();
      voices.warm();
      await http.listen({ port: options.http.port, host: '0.0.0.0' });
      const chosen = await chooseBroker({
        ...options.mqtt,
        supervisorUrl: config.supervisorUrl,
        supervisorToken: config.supervisorToken,
        log: log.child({ mod: 'mqtt' }),
      });
      embedded = chosen.embedded;
      brokerUrl = chosen.choice.url;
      broker = chosen.choice;
      bus = createMqttBus({
        url: chosen.choice.url,
        username: chosen.choice.username,
        password: chosen.choice.password,
        clientId: options.mqtt.client_id,
        availabilityTopic: group.topics.availability,
        protocolVersion: chosen.embedded ? 4 : 5,
        maxPacketBytes: options.limits.mqtt_max_packet_kb * 1024,
        receiveMaximum: options.mqtt.receive_maximum,
        shareGroup: group.name,
        keepaliveS: options.mqtt.keepalive_s,
        log: log.child({ mod: 'mqtt' }),
      });
      // Handlers first: a persistent session delivers requests queued while the hub was down right after CONNACK.
      await attachSayTopic({
        bus,
        inbox,
        sayTopic: options.topics.say,
        resultTopic: options.topics.result,
        sayService,
        maxTextChars: options.max_text_chars,
        maxPayloadBytes: sayPayloadLimitBytes(options),
        defaults: requestDefaults(options, 'requests'),
        ...(group.name ? { hub: group.self } : {}),
        log: log.child({ mod: 'mqtt-say' }),
      });
      await attachHermes({
        bus,
        inbox,
        sayService,
        playback,
        acceptSay: options.topics.hermes,
        maxTextChars: options.max_text_chars,
        maxPayloadBytes: sayPayloadLimitBytes(options),
        defaults: requestDefaults(options, 'requests'),
        log: log.child({ mod: 'hermes' }),
      });
      await group.attach(bus);
      await recording?.attach(bus);
      await integrations.attach(bus, inbox);
      await inbox.open();
      const recorderBoot = recording?.start(signal);
      await bus.start(signal);
      await inbox.run();
      await group.start({ inbox, broker: chosen.choice, embedded: chosen.embedded !== undefined });
      recording?.bind(bus);
      await recorderBoot;
      monitor.onChange = () => {
        publishStatus().catch((err) => log.warn({ err }, 'status publish failed'));
      };
      // The "cache degraded" binary sensor reads tts/status: publish as soon as the disk refuses or takes data.
      cache.onHealthChange(() => {
        publishStatus().catch((err) => log.warn({ err }, 'status publish failed'));
      });
      await publishStatus();
      await integrations.start();
      log.info(
        {
          http: baseUrl,
          mqtt: redactCredentials(brokerUrl),
          source: chosen.choice.source,
          engines: entries.map((e) => e.engine.name),
        },
        'hub started',
      );
    },
    async stop(graceMs = 8000) {
      // Together: fastify waits for in-flight requests (a say, a live stream), which end when the say service
      // has finished or cancelled its work within the grace time.
      // MQTT requests not finished within the grace stay in the journal (or at the broker) for the next start.
      // In a share group the hub first leaves it, so the broker sends new requests to the other hubs at once;
      // what it sent before the UNSUBACK is still journaled here.
      await group.stop().catch((err) => log.warn({ err }, 'share group stop failed'));
      await bus?.leaveShareGroup();
      // A connection still open after the grace (a client that connected and sent nothing, a listener that
      // stopped reading) is cut, so stopping never waits on a client.
      const cut = setTimeout(() => http.server.closeAllConnections(), graceMs + 500);
      await Promise.all([
        http.close().catch(() => {}),
        inbox.stop(graceMs).catch((err) => log.warn({ err }, 'request inbox stop failed')),
        sayService.stop(graceMs),
        integrations.stop().catch((err) => log.warn({ err }, 'integrations stop failed')),
      ]);
      clearTimeout(cut);
      playback.stop();
      chimes.stop();
      monitor.stop();
      // Before the bus stops, so the final statuses of finalized recordings go out.
      await recording?.stop().catch((err) => log.warn({ err }, 'recorder stop failed'));
      await bus?.stop().catch((err) => log.warn({ err }, 'mqtt stop failed'));
      await embedded?.stop();
    },
  };
}
