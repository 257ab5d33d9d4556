/**
 * The composition root: every area's builder (`<area>/build.ts`) is called with the options and its
 * collaborators, and the hub is the list of their services, started in order and stopped in reverse
 * (zigbee2mqtt's extension list, without global settings). docs/ARCHITECTURE.md draws the areas.
 */
import type { FastifyInstance } from 'fastify';
import { buildAudio } from './audio/build.js';
import { buildCache } from './cache/build.js';
import type { CacheStore } from './cache/store.js';
import { buildChimes } from './chimes/build.js';
import type { LoadedConfig } from './config/load.js';
import { resolvePublicBaseUrl } from './config/public-url.js';
import { sayPayloadLimitBytes } from './config/schema.js';
import { runDoctor } from './doctor/index.js';
import { buildHttp } from './http/build.js';
import type { HubEvents } from './hub-events.js';
import { createHubGroup } from './hub-group.js';
import { buildDiscovery, buildInbox, buildMqtt, buildMqttInputs } from './mqtt/build.js';
import { buildRecorderMqtt } from './mqtt/recorder-adapter.js';
import { buildPlayback } from './playback/build.js';
import { buildRecorder } from './recorder/build.js';
import type { Recorder } from './recorder/index.js';
import { buildSay, requestDefaults } from './say/build.js';
import type { SayService } from './say/service.js';
import { buildSchedules } from './schedules/build.js';
import { createEventHub, type EventHub } from './shared/events.js';
import type { Log } from './shared/log.js';
import { redactCredentials } from './shared/redact.js';
import { type Service, stopLogged, together } from './shared/service.js';
import { SHUTDOWN_GRACE_MS } from './shared/shutdown.js';
import { buildStatus, type StatusArea } from './status/build.js';
import { buildEngines } from './tts/build.js';
import type { Dispatcher } from './tts/dispatcher.js';
import { buildWyomingServer } from './wyoming/build.js';

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

/** The areas every other area builds on: config, events, storage, engines, MQTT, playback, the say service. */
async function buildCore(config: LoadedConfig, log: Log) {
  const { options, supervisorUrl, supervisorToken } = config;
  const audio = await buildAudio(options, { log });
  // Inside the add-on the container's own address and port are unreachable from players: ask the Supervisor.
  const baseUrl = await resolvePublicBaseUrl({
    externalUrl: options.http.external_url,
    httpPort: options.http.port,
    supervisorUrl,
    supervisorToken,
    log,
  });
  const events = createEventHub<HubEvents>(log.child({ mod: 'events' }));
  // Several hubs on one broker (mqtt.share_group): per-hub topics, journal on the share volume, takeover.
  const group = createHubGroup(config, log);
  const storage = await buildCache(options, { dataDir: config.dataDir, log });
  const chimes = buildChimes(options, { log });
  const engines = buildEngines(options, { log });
  const inbox = buildInbox(options, { group, log });
  const mqtt = buildMqtt(options, { supervisorUrl, supervisorToken, group, inbox, log });
  // Targets: Home Assistant through the Supervisor; Hermes/MQTT targets publish on the bus once it exists.
  const playback = buildPlayback(options, { supervisorUrl, supervisorToken, publish: mqtt.publish, log });
  const say = buildSay(options, {
    ...engines,
    ...storage,
    chimes: chimes.library,
    playback: playback.playback,
    events,
    opusEncoder: audio.opusEncoder,
    baseUrl,
    log,
  });
  const brokerUrl = (): string => mqtt.broker()?.url ?? '';
  return {
    config,
    log,
    audio,
    baseUrl,
    events,
    group,
    storage,
    chimes,
    engines,
    inbox,
    mqtt,
    brokerUrl,
    playback,
    say,
  };
}

type Core = Awaited<ReturnType<typeof buildCore>>;

/** The recorder and its MQTT side, when `recorder.enabled`. */
function buildRecording(core: Core) {
  const { config, group, events, log, mqtt } = core;
  const { options } = config;
  if (!options.recorder.enabled) return undefined;
  const share = group.name ? { hubId: group.self, peers: () => group.peers() } : undefined;
  const recorder = buildRecorder(
    { ...options, shareDir: options.share_dir, baseUrl: core.baseUrl },
    { events, log, ...(share ? { hubId: share.hubId } : {}) },
  );
  // Status on `${topics.recorder}/<device>/status` and `${topics.recorder}/status` (retained, QoS 1).
  const topics = buildRecorderMqtt(
    { prefix: options.topics.recorder, hermes: options.topics.hermes },
    { bus: mqtt.bus, recorder, events, log, ...(share ? { share } : {}) },
  );
  return { recorder, mqtt: topics };
}

/** The HTTP app over the core (API, panel, OpenAI speech, metrics, doctor). */
function buildWeb(core: Core, status: StatusArea, recorder: Recorder | undefined) {
  const { config, engines, storage, log, mqtt } = core;
  const { options } = config;
  return buildHttp(options, {
    sayService: core.say.sayService,
    cache: storage.cache,
    health: status.health,
    dispatcher: engines.dispatcher,
    monitor: engines.monitor,
    maxTextChars: options.max_text_chars,
    requestDefaults: requestDefaults(options, 'requests'),
    log,
    events: core.events,
    cacheLimits: { maxEntries: options.cache.max_entries, maxBytes: options.cache.max_mb * 1024 * 1024 },
    apiToken: options.http.api_token,
    metrics: status.metrics,
    bitrateKbps: options.opus.bitrate_kbps,
    voices: engines.voices,
    bodyLimits: { say: sayPayloadLimitBytes(options), other: options.limits.http_body_kb * 1024 },
    cacheKeyOf: (urlKey) => storage.urlKeys.cacheKeyOf(urlKey),
    doctor: () =>
      runDoctor({
        options,
        entries: engines.entries,
        broker: mqtt.broker() ?? { url: 'mqtt://127.0.0.1:1883', source: 'none' },
        inAddon: config.supervisorToken !== undefined,
      }),
    ...(recorder ? { recorder } : {}),
    chimes: core.chimes.library,
    targets: () => core.playback.playback.describe(),
  });
}

/** The areas over the core: status and metrics, the HTTP app, discovery, the MQTT say inputs, Wyoming, schedules. */
async function buildEdges(core: Core, recorder: Recorder | undefined) {
  const { options } = core.config;
  const { group, storage, engines, mqtt, inbox, events, log } = core;
  const { sayService } = core.say;
  const { dispatcher } = engines;
  const bus = mqtt.bus;
  const brokerUrl = core.brokerUrl;
  const status = buildStatus({
    ...engines,
    ...storage,
    sayService,
    inbox,
    group,
    mqtt: { ...mqtt, brokerUrl },
    events,
    log,
  });
  const discovery = buildDiscovery(options, {
    ...storage,
    bus,
    dispatcher,
    group,
    baseUrl: core.baseUrl,
    onCacheCleared: status.statusSoon,
    log,
  });
  const playback = core.playback.playback;
  const engineList = engineNames(dispatcher);
  return {
    status,
    web: await buildWeb(core, status, recorder),
    discovery,
    inputs: buildMqttInputs(options, { bus, inbox, sayService, playback, group, log }),
    wyoming: buildWyomingServer(options, {
      sayService,
      voices: engines.voices,
      engineNames: engineList,
      log,
    }),
    schedules: buildSchedules(options, { sayService, inGroup: group.name !== '', log }),
  };
}

/** Builds (does not start) the hub from loaded config. */
export async function createHub(config: LoadedConfig, log: Log): Promise<Hub> {
  const core = await buildCore(config, log);
  const { storage, engines, mqtt } = core;
  const recording = buildRecording(core);
  const { status, web, discovery, inputs, wyoming, schedules } = await buildEdges(
    core,
    recording?.recorder.recorder,
  );
  // Started in this order, stopped in reverse. The inputs that take requests stop together with the say
  // service (each waits on it); subscriptions come before `mqtt-connect`, so queued messages are not missed.
  const services: Service[] = [
    core.audio.service,
    storage.service,
    core.chimes.service,
    engines.service,
    core.playback.service,
    mqtt.service,
    ...(recording ? [recording.mqtt.topics, recording.recorder] : []),
    discovery.topics,
    together('intake', [web.service, core.say.service, inputs], log),
    mqtt.connect,
    ...(recording ? [recording.mqtt.status] : []),
    status.service,
    discovery.publish,
    ...(wyoming ? [wyoming] : []),
    schedules,
  ];
  return {
    sayService: core.say.sayService,
    events: core.events,
    dispatcher: engines.dispatcher,
    cache: storage.cache,
    http: web.http,
    baseUrl: core.baseUrl,
    brokerUrl: core.brokerUrl,
    cacheKeyOfUrl: (url) => {
      const urlKey = /([0-9a-f]{64})\.(?:opus|mp3|wav)$/.exec(url)?.[1];
      return urlKey === undefined ? undefined : storage.urlKeys.cacheKeyOf(urlKey);
    },
    async start(signal) {
      for (const s of services) await s.start(signal);
      const source = mqtt.broker()?.source;
      const url = redactCredentials(core.brokerUrl());
      log.info(
        { http: core.baseUrl, mqtt: url, source, engines: engineNames(engines.dispatcher) },
        'hub started',
      );
    },
    async stop(graceMs = SHUTDOWN_GRACE_MS) {
      for (const s of [...services].reverse()) await stopLogged(s, graceMs, log);
    },
  };
}

/** The configured engines' names, in fallback order. */
function engineNames(dispatcher: Dispatcher): string[] {
  return dispatcher.entries.map((e) => e.engine.name);
}
