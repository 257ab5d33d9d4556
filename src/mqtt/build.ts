/**
 * The MQTT area assembled from the options: the broker choice and the bus, the at-least-once request inbox,
 * the say inputs (`tts/say`, Hermes, the notify entity) and discovery. Subscriptions are made before the bus
 * connects (a persistent session delivers what was queued while the hub was down right after CONNACK), so the
 * area gives the hub's list several services: `mqtt` (the bus), `mqtt-inputs` (subscriptions, the inbox),
 * `mqtt-connect` (connects, runs the inbox, joins the share group) and `discovery` (after connecting).
 */
import type { CacheStore } from '../cache/store.js';
import type { Options } from '../config/schema.js';
import { sayPayloadLimitBytes } from '../config/schema.js';
import type { BrokerTarget } from '../doctor/index.js';
import type { HubGroup } from '../hub-group.js';
import type { PlaybackService } from '../playback/index.js';
import { requestDefaults } from '../say/build.js';
import type { SayService } from '../say/service.js';
import { AppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import type { Dispatcher } from '../tts/dispatcher.js';
import { version } from '../version.js';
import { chooseBroker, type EmbeddedBroker } from './broker.js';
import { createMqttBus, type MqttBus, type PublishFn } from './client.js';
import { commandBase, slug } from './discovery.js';
import { attachDiscovery, type DiscoveryOptions, type DiscoveryPublisher } from './discovery-publisher.js';
import { attachHermes } from './hermes-adapter.js';
import type { RequestInbox } from './inbox-types.js';
import { attachNotify } from './notify-adapter.js';
import { createRequestInbox } from './request-inbox.js';
import { createRequestJournal } from './request-journal.js';
import { attachSayTopic } from './say-adapter.js';

/** At-least-once intake of MQTT say requests, journaled in the hub's data dir (the share volume in a group). */
export function buildInbox(options: Options, deps: { group: HubGroup; log: Log }): RequestInbox {
  const { log } = deps;
  return createRequestInbox({
    journal: createRequestJournal({ dir: deps.group.journalDir, log: log.child({ mod: 'journal' }) }),
    session: options.mqtt.client_id,
    maxInFlight: options.mqtt.max_in_flight,
    maxPending: options.mqtt.max_pending,
    maxAttempts: options.mqtt.max_attempts,
    log: log.child({ mod: 'inbox' }),
  });
}

/** The hub's MQTT connection. */
export interface MqttConnection {
  /** The bus. @throws AppError INTERNAL before the `mqtt` service started. */
  bus(): MqttBus;
  /** The bus once created, else undefined (health, status). */
  current(): MqttBus | undefined;
  /** The broker in use once chosen (the doctor's target). */
  broker(): BrokerTarget | undefined;
  /** Publishes on the bus (Hermes and MQTT targets). @throws Error before the bus exists. */
  publish: PublishFn;
  /** Chooses the broker, creates the bus (not connected) and attaches the share group; stop closes the bus. */
  readonly service: Service;
  /** Connects, runs the inbox, joins the share group; stop leaves it first, so the broker sends new work elsewhere. */
  readonly connect: Service;
}

/** What the connection needs besides the options. */
export interface MqttDeps {
  supervisorUrl: string;
  supervisorToken: string | undefined;
  group: HubGroup;
  inbox: RequestInbox;
  log: Log;
}

/** Builds the MQTT connection; nothing connects until its services start. */
export function buildMqtt(options: Options, deps: MqttDeps): MqttConnection {
  const { group, inbox, log } = deps;
  let bus: MqttBus | undefined;
  let broker: BrokerTarget | undefined;
  let embedded: EmbeddedBroker | undefined;
  const create = async (): Promise<void> => {
    const chosen = await chooseBroker({
      ...options.mqtt,
      supervisorUrl: deps.supervisorUrl,
      supervisorToken: deps.supervisorToken,
      log: log.child({ mod: 'mqtt' }),
    });
    embedded = chosen.embedded;
    broker = chosen.choice;
    bus = createBus(options, group, chosen, log);
    await group.attach(bus);
  };
  const required = (): MqttBus => {
    if (!bus) throw new AppError('INTERNAL', 'the MQTT bus is used before the mqtt service started');
    return bus;
  };
  return {
    bus: required,
    current: () => bus,
    broker: () => broker,
    publish: async (topic, payload, opts) => {
      if (!bus) throw new Error('MQTT is not connected yet');
      await bus.publish(topic, payload, opts);
    },
    service: {
      name: 'mqtt',
      start: create,
      async stop() {
        await bus?.stop().catch((err) => log.warn({ err }, 'mqtt stop failed'));
        await embedded?.stop();
      },
    },
    connect: {
      name: 'mqtt-connect',
      async start(signal) {
        const b = required();
        await b.start(signal);
        await inbox.run();
        if (!broker) return;
        await group.start({ inbox, broker, embedded: embedded !== undefined });
      },
      async stop() {
        // In a share group the hub first leaves it, so the broker sends new requests to the other hubs at once;
        // what it sent before the UNSUBACK is still journaled here.
        await group.stop().catch((err) => log.warn({ err }, 'share group stop failed'));
        await bus?.leaveShareGroup();
      },
    },
  };
}

/** The bus (not connected) on the chosen broker: MQTT 5, except 3.1.1 on the embedded broker (aedes). */
function createBus(
  options: Options,
  group: HubGroup,
  chosen: Awaited<ReturnType<typeof chooseBroker>>,
  log: Log,
): MqttBus {
  return createMqttBus({
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
}

/** What the say inputs need besides the options. */
export interface MqttInputsDeps {
  bus(): MqttBus;
  inbox: RequestInbox;
  sayService: SayService;
  playback: PlaybackService;
  group: HubGroup;
  log: Log;
}

/**
 * The say inputs on MQTT: `tts/say`, Hermes, the notify entity, all through the inbox, which opens its journal
 * last. Stop: MQTT requests not finished within the grace stay in the journal (or at the broker) for the next
 * start.
 */
export function buildMqttInputs(options: Options, deps: MqttInputsDeps): Service {
  const { inbox, sayService, group, log } = deps;
  const limits = {
    maxTextChars: options.max_text_chars,
    maxPayloadBytes: sayPayloadLimitBytes(options),
  };
  const hub = group.name ? { hub: group.self } : {};
  return {
    name: 'mqtt-inputs',
    async start() {
      const bus = deps.bus();
      const defaults = requestDefaults(options, 'requests');
      await attachSayTopic({
        bus,
        inbox,
        sayTopic: options.topics.say,
        resultTopic: options.topics.result,
        sayService,
        ...limits,
        defaults,
        ...hub,
        log: log.child({ mod: 'mqtt-say' }),
      });
      const hermes = { acceptSay: options.topics.hermes, ...limits, defaults };
      await attachHermes({
        bus,
        inbox,
        sayService,
        playback: deps.playback,
        ...hermes,
        log: log.child({ mod: 'hermes' }),
      });
      await attachNotify({
        bus,
        inbox,
        topic: `${commandBase(options.topics.say)}/notify`,
        resultTopic: options.topics.result,
        sayService,
        ...limits,
        defaults: requestDefaults(options, 'assistant'),
        ...hub,
        log: log.child({ mod: 'discovery' }),
      });
      await inbox.open();
    },
    stop: (graceMs) => inbox.stop(graceMs),
  };
}

/** What discovery needs besides the options. */
export interface DiscoveryDeps {
  bus(): MqttBus;
  dispatcher: Dispatcher;
  cache: CacheStore;
  group: HubGroup;
  baseUrl: string;
  /** Called after the clear-cache button cleared the cache (to republish the status). */
  onCacheCleared: () => void;
  log: Log;
}

/**
 * Discovery as two services: `discovery-topics` subscribes before the bus connects (retained configs, the
 * clear-cache button); `discovery` publishes after (in the background: it waits briefly for the retained
 * config of an earlier run) and stops its timers.
 */
export function buildDiscovery(options: Options, deps: DiscoveryDeps): { topics: Service; publish: Service } {
  let discovery: DiscoveryPublisher | undefined;
  let run: Promise<void> | undefined;
  return {
    topics: {
      name: 'discovery-topics',
      async start() {
        discovery = await attachDiscovery(discoveryOptions(options, deps));
      },
      async stop() {},
    },
    publish: {
      name: 'discovery',
      async start() {
        run = discovery?.start().catch((err) => deps.log.warn({ err }, 'discovery failed'));
      },
      async stop() {
        await run;
        await discovery?.stop();
      },
    },
  };
}

/** Discovery options from the hub's options: device id from the MQTT client id, commands beside the say topic. */
function discoveryOptions(options: Options, deps: DiscoveryDeps): DiscoveryOptions {
  const { group, dispatcher } = deps;
  const base = commandBase(options.topics.say);
  const peers = group.peers();
  return {
    bus: deps.bus(),
    enabled: options.topics.discovery,
    ...(group.name && peers
      ? { group: { name: group.name, peers, availabilityOf: group.topics.availabilityOf } }
      : {}),
    context: {
      prefix: options.topics.discovery_prefix,
      deviceId: slug(options.mqtt.client_id) || 'tts_hub',
      version,
      configurationUrl: deps.baseUrl,
      topics: {
        status: group.topics.status,
        availability: group.topics.availability,
        recorder: options.topics.recorder,
        notify: `${base}/notify`,
        clearCache: `${base}/cache/clear`,
      },
      engines: dispatcher.entries.map((e) => e.engine.name),
      engineInstances: Object.fromEntries(
        dispatcher.entries.map((e) => [
          e.engine.name,
          dispatcher.pool(e.engine.name).instances.map((i) => i.endpoint),
        ]),
      ),
    },
    cache: deps.cache,
    maxRecorderDevices: options.recorder.max_discovery_devices,
    onCacheCleared: deps.onCacheCleared,
    log: deps.log.child({ mod: 'discovery' }),
  };
}
