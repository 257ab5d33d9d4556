/**
 * Publishes the hub's Home Assistant discovery (payloads in `discovery.ts`) and serves its two commands:
 * the notify entity (its message is spoken through the say service, the result published on the result topic)
 * and the clear-cache button.
 *
 * Habits (STYLE "MQTT"): retained, QoS 1; published only when the bytes change (compared with the retained
 * message found on the broker at start, so a restart with the same setup publishes nothing); republished when
 * `homeassistant/status` says `online`; components that vanished are sent as `{p}` so Home Assistant deletes
 * them; with discovery off, a device left on the broker by an earlier run is cleared (empty retained payload).
 * New recorder devices (a retained `recorder/<device>/status` appears) add their components.
 */
import type { CacheStore } from '../cache/store.js';
import { checkPayloadSize, toSayRequest } from '../inputs/say-payload.js';
import { NAME_PATTERN } from '../recorder/index.js';
import type { RequestDefaults } from '../say/request.js';
import { errorPayload, resultPayload } from '../say/result.js';
import type { SayService } from '../say/service.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import {
  buildDevicePayload,
  buildServicePayload,
  type DevicePayload,
  type DiscoveryContext,
  discoveryTopic,
  groupDeviceId,
  listedAvailability,
  liveComponents,
} from './discovery.js';
import type { HubPeers } from './hub-peers.js';
import type { InboxContext, RequestInbox } from './inbox-types.js';
import { isShutdown } from './say-adapter.js';

/** How long start waits for the retained config of an earlier run, in ms. */
const RETAINED_WAIT_MS = 300;
/** Changes within this many ms are published together (a burst of retained device statuses at connect). */
const DEBOUNCE_MS = 100;

/** The discovery publisher. */
export interface DiscoveryPublisher {
  /** Publishes (or clears) the device after the bus connected; resolves when the first publish is done. */
  start(): Promise<void>;
  /** Stops timers; in-flight publishes finish. */
  stop(): Promise<void>;
}

/** Options: the bus, the context without recorder devices (learned from the broker), and the collaborators. */
export interface DiscoveryOptions {
  bus: MqttBus;
  /** `topics.discovery`: false clears a device published earlier. */
  enabled: boolean;
  context: Omit<DiscoveryContext, 'recorderDevices' | 'group'>;
  /**
   * In a share group: its name, the hubs (their availability topics make the service device's `availability`
   * list) and how a hub's availability topic is named.
   */
  group?: { name: string; peers: HubPeers; availabilityOf(id: string): string };
  /** Home Assistant's birth topic, default `homeassistant/status`. */
  birthTopic?: string;
  resultTopic: string;
  /** In a share group: this hub's client id, added to results as `hub`. */
  hub?: string;
  /** At-least-once intake of the notify entity's messages (see request-inbox.ts). */
  inbox: RequestInbox;
  sayService: SayService;
  cache: CacheStore;
  maxTextChars: number;
  /** Largest notify message taken, in bytes, checked before decoding. */
  maxPayloadBytes?: number;
  /** Format and clean-up of notify messages (`default_format`, `text.clean`, `text.urls`). */
  defaults?: RequestDefaults;
  /** Called after the cache was cleared by the button (to republish the status). */
  onCacheCleared?: () => void;
  /**
   * Recorder devices that get entities (option `recorder.max_discovery_devices`): only devices that recorded
   * (`hasRecorded`), first come; default 16.
   */
  maxRecorderDevices?: number;
  log: Log;
}

/** One retained device config the publisher keeps up to date. */
interface Track {
  topic: string;
  build(ctx: DiscoveryContext, removed: ReadonlyMap<string, string>): DevicePayload | undefined;
  /** Components ever published (from the retained config of an earlier run on); undefined before it is read. */
  previous?: Map<string, string>;
  lastPublished?: string;
  /** The service device is written by every hub of the group: follow every retained change, not just the first. */
  shared: boolean;
  /** The last config seen on the broker (the service device: to keep hubs another hub listed). */
  seen?: unknown;
}

/**
 * True when a `recorder/<device>/status` payload shows a device that recorded: audio in the recording in
 * progress, or a last recording (a start without audio, or a refused one, is not enough).
 */
export function hasRecorded(payload: Buffer): boolean {
  if (payload.length === 0 || payload.length > 64 * 1024) return false;
  try {
    const status = JSON.parse(payload.toString('utf8')) as { duration_ms?: unknown; last?: unknown };
    const audio = typeof status.duration_ms === 'number' && status.duration_ms > 0;
    return audio || (typeof status.last === 'object' && status.last !== null);
  } catch {
    return false;
  }
}

/**
 * Subscribes the topics it needs (call before or after `bus.start()`; mqtt.js resubscribes on reconnect).
 */
export async function attachDiscovery(opts: DiscoveryOptions): Promise<DiscoveryPublisher> {
  const { bus, log, context, group } = opts;
  const devices = new Set<string>();
  const tracks: Track[] = [
    { topic: discoveryTopic(context.prefix, context.deviceId), build: buildDevicePayload, shared: false },
  ];
  if (group) {
    tracks.push({
      topic: discoveryTopic(context.prefix, groupDeviceId(group.name)),
      build: buildServicePayload,
      shared: true,
    });
  }
  let retainedSeen: () => void = () => {};
  const retained = new Promise<void>((r) => {
    retainedSeen = r;
  });
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const groupContext = (): DiscoveryContext['group'] => {
    if (!group) return undefined;
    const topics = new Set(group.peers.known().map((id) => group.availabilityOf(id)));
    for (const t of listedAvailability(tracks[1]?.seen)) topics.add(t);
    return { id: groupDeviceId(group.name), name: group.name, availabilityTopics: [...topics].sort() };
  };

  const publishTrack = async (track: Track, ctx: DiscoveryContext, force: boolean): Promise<void> => {
    if (!opts.enabled) {
      // Only a device an earlier run left on the broker needs clearing.
      if (!track.lastPublished) return;
      track.lastPublished = '';
      await bus.publish(track.topic, '', { qos: 1, retain: true });
      log.info({ topic: track.topic }, 'discovery cleared');
      return;
    }
    const current = liveComponents(track.build(ctx, new Map()));
    const removed = new Map([...(track.previous ?? [])].filter(([cmp]) => !current.has(cmp)));
    const payload = track.build(ctx, removed);
    const json = JSON.stringify(payload);
    // Everything ever live stays known, so a component that goes away later is removed too.
    for (const [cmp, p] of current) track.previous?.set(cmp, p);
    if (!force && json === track.lastPublished) return;
    // The service device as another hub wrote it is kept when it has all we would publish: hubs of different
    // versions (a rolling upgrade) must not overwrite each other's config in turn.
    if (!force && track.shared && !removed.size && covers(track.seen, payload)) return;
    track.lastPublished = json;
    await bus.publish(track.topic, json, { qos: 1, retain: true });
    log.info({ topic: track.topic, components: current.size, removed: removed.size }, 'discovery published');
  };
  const publish = async (force: boolean): Promise<void> => {
    if (!bus.connected()) return;
    const ctx: DiscoveryContext = { ...context, recorderDevices: [...devices], group: groupContext() };
    for (const track of tracks) await publishTrack(track, ctx, force);
  };
  const queue = (force: boolean): Promise<void> => {
    chain = chain
      .then(() => publish(force))
      .catch((err) => log.warn({ err: toAppError(err).message }, 'discovery publish failed'));
    return chain;
  };
  const soon = (): void => {
    if (!started) return;
    clearTimeout(timer);
    timer = setTimeout(() => void queue(false), DEBOUNCE_MS);
  };

  for (const track of tracks) {
    await bus.subscribe(track.topic, 1, (_t, payload) => {
      const text = payload.toString('utf8');
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        log.warn({ topic: track.topic }, 'retained discovery payload is not JSON; replacing it');
      }
      if (track.previous === undefined) {
        // The retained config of an earlier run: what it had that we no longer have gets removed.
        track.lastPublished = text;
        track.previous = liveComponents(parsed);
      } else if (track.shared && text !== track.lastPublished) {
        // Another hub of the group wrote the service device: check whether ours would differ.
        track.lastPublished = text;
        for (const [cmp, p] of liveComponents(parsed)) track.previous.set(cmp, p);
        soon();
      }
      track.seen = parsed;
      if (track === tracks[0]) retainedSeen();
    });
  }
  await bus.subscribe(opts.birthTopic ?? `${context.prefix}/status`, 1, (_t, payload) => {
    if (payload.toString('utf8').trim() === 'online' && started) void queue(true);
  });
  const maxDevices = opts.maxRecorderDevices ?? 16;
  let overCapLogged = false;
  await bus.subscribe(`${context.topics.recorder}/+/status`, 1, (t, payload) => {
    const device = t.split('/').at(-2) ?? '';
    if (!NAME_PATTERN.test(device)) return;
    const had = devices.has(device);
    if (payload.length === 0) devices.delete(device);
    else if (!had && hasRecorded(payload)) {
      if (devices.size < maxDevices) devices.add(device);
      else if (!overCapLogged) {
        overCapLogged = true;
        log.warn(
          { device, maxDevices },
          'more recorder devices than recorder.max_discovery_devices; the others get no entities',
        );
      }
    }
    if (had !== devices.has(device)) soon();
  });
  group?.peers.onChange(() => soon());

  await attachCommands(opts);

  return {
    async start() {
      await Promise.race([retained, new Promise((r) => setTimeout(r, RETAINED_WAIT_MS))]);
      for (const track of tracks) track.previous ??= new Map();
      started = true;
      await queue(false);
    },
    async stop() {
      started = false;
      clearTimeout(timer);
      await chain;
    },
  };
}

/**
 * The say body of a notify message. Home Assistant's MQTT notify entity sends only the message
 * (home-assistant/core `homeassistant/components/mqtt/notify.py`, `async_send_message` renders the command
 * template from the message alone), so the message is the only place for notify data: a message that is a JSON
 * object with a string `text` is taken as a `tts/say` body (chime, target, voice, …); anything else, including
 * text that merely looks like JSON, is spoken as it is.
 */
export function notifyBody(message: string): Record<string, unknown> {
  const trimmed = message.trim();
  if (trimmed.startsWith('{')) {
    try {
      const json: unknown = JSON.parse(trimmed);
      if (
        typeof json === 'object' &&
        json !== null &&
        typeof (json as { text?: unknown }).text === 'string'
      ) {
        return json as Record<string, unknown>;
      }
    } catch {
      // Not JSON: spoken as text.
    }
  }
  return { text: message };
}

/**
 * The two command entities: the notify message is spoken through the say service (plain text, or a JSON say
 * body, see `notifyBody`) and answered on the result topic; `PRESS` on the button topic clears the cache.
 * Retained commands are ignored (an old message must not act again at every connect).
 */
async function attachCommands(opts: DiscoveryOptions): Promise<void> {
  const { bus, log, context } = opts;
  const speak = async (payload: Buffer, ctx: InboxContext): Promise<boolean> => {
    let id = '';
    try {
      checkPayloadSize(payload.length, opts.maxPayloadBytes ?? Number.POSITIVE_INFINITY);
      const request = toSayRequest(notifyBody(payload.toString('utf8')), opts.maxTextChars, opts.defaults);
      id = request.id;
      if (ctx.abandoned) throw ctx.abandoned;
      const result = await opts.sayService.say(request, ctx.signal, { ledger: ctx.ledger });
      await bus.publish(opts.resultTopic, JSON.stringify(withHub(resultPayload(result), opts.hub)), {
        qos: 1,
      });
    } catch (err) {
      if (isShutdown(err, ctx)) return false; // replayed at the next start
      const e = toAppError(err);
      log.warn({ id, code: e.code, err: e.message }, 'notify say failed');
      await bus
        .publish(opts.resultTopic, JSON.stringify(withHub(errorPayload(id, e), opts.hub)), { qos: 1 })
        .catch(() => {});
    }
    return true;
  };
  await opts.inbox.subscribe(bus, context.topics.notify, (msg, ctx) => speak(msg.payload, ctx), undefined, {
    maxPayloadBytes: opts.maxPayloadBytes,
  });
  await bus.subscribe(context.topics.clearCache, 1, (_t, payload, packet) => {
    if (packet.retain || payload.toString('utf8').trim() !== 'PRESS') return;
    opts.cache.clear().then(
      (n) => {
        log.info({ entries: n }, 'cache cleared by button');
        opts.onCacheCleared?.();
      },
      (err) => log.warn({ err: toAppError(err).message }, 'cache clear failed'),
    );
  });
}

/** A result payload with `hub` (the answering hub's client id) when the hub is in a share group. */
export function withHub<T extends object>(body: T, hub: string | undefined): T & { hub?: string } {
  return hub ? { ...body, hub } : body;
}

/** True when config `seen` has every live component and every availability topic of `ours`. */
function covers(seen: unknown, ours: unknown): boolean {
  if (!seen) return false;
  const have = liveComponents(seen);
  const topics = new Set(listedAvailability(seen));
  return (
    [...liveComponents(ours).keys()].every((c) => have.has(c)) &&
    listedAvailability(ours).every((t) => topics.has(t))
  );
}
