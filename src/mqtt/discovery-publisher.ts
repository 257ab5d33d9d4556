/**
 * Publishes the hub's Home Assistant discovery (payloads in `discovery.ts`) and serves the clear-cache button.
 * The notify entity's messages are an input of the say service: `notify-adapter.ts`.
 *
 * Habits (STYLE "MQTT"): retained, QoS 1; published only when the bytes change (compared with the retained
 * message found on the broker at start, so a restart with the same setup publishes nothing); republished when
 * `homeassistant/status` says `online`; components that vanished are sent as `{p}` so Home Assistant deletes
 * them; with discovery off, a device left on the broker by an earlier run is cleared (empty retained payload).
 * New recorder devices (a retained `recorder/<device>/status` appears) add their components.
 */
import type { CacheStore } from '../cache/store.js';
import { NAME_PATTERN } from '../recorder/index.js';
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
  /** The cache the clear-cache button clears. */
  cache: CacheStore;
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
 * Subscribes the topics it needs (call before or after `bus.start()`; mqtt.js resubscribes on reconnect):
 * the retained configs of an earlier run, Home Assistant's birth topic, recorder device statuses (their
 * devices get components) and the clear-cache button.
 */
export async function attachDiscovery(opts: DiscoveryOptions): Promise<DiscoveryPublisher> {
  const { bus, context } = opts;
  const state = new DiscoveryState(opts);
  for (const track of state.tracks) {
    await bus.subscribe(track.topic, 1, (_t, payload) => state.onRetained(track, payload));
  }
  await bus.subscribe(opts.birthTopic ?? `${context.prefix}/status`, 1, (_t, payload) => {
    if (payload.toString('utf8').trim() === 'online' && state.started) void state.queue(true);
  });
  await bus.subscribe(`${context.topics.recorder}/+/status`, 1, (t, payload) =>
    state.onDeviceStatus(t, payload),
  );
  opts.group?.peers.onChange(() => state.soon());
  await attachClearCache(opts);
  return {
    async start() {
      await Promise.race([state.retained, new Promise((r) => setTimeout(r, RETAINED_WAIT_MS))]);
      for (const track of state.tracks) track.previous ??= new Map();
      state.started = true;
      await state.queue(false);
    },
    stop: () => state.stop(),
  };
}

/** The device configs kept up to date: this hub's device, and in a share group the group's service device. */
function discoveryTracks(opts: DiscoveryOptions): Track[] {
  const { context, group } = opts;
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
  return tracks;
}

/** What the publisher knows (tracks, recorder devices) and its serialized, debounced publishing. */
class DiscoveryState {
  readonly tracks: Track[];
  /** Resolves when the retained config of this hub's device was seen. */
  readonly retained: Promise<void>;
  started = false;
  private retainedSeen: () => void = () => {};
  private readonly devices = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private overCapLogged = false;

  constructor(private readonly opts: DiscoveryOptions) {
    this.tracks = discoveryTracks(opts);
    this.retained = new Promise<void>((r) => {
      this.retainedSeen = r;
    });
  }

  /** A retained config on a track's topic: an earlier run's (first), or another hub's (service device). */
  onRetained(track: Track, payload: Buffer): void {
    const text = payload.toString('utf8');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      this.opts.log.warn({ topic: track.topic }, 'retained discovery payload is not JSON; replacing it');
    }
    if (track.previous === undefined) {
      // The retained config of an earlier run: what it had that we no longer have gets removed.
      track.lastPublished = text;
      track.previous = liveComponents(parsed);
    } else if (track.shared && text !== track.lastPublished) {
      // Another hub of the group wrote the service device: check whether ours would differ.
      track.lastPublished = text;
      for (const [cmp, p] of liveComponents(parsed)) track.previous.set(cmp, p);
      this.soon();
    }
    track.seen = parsed;
    if (track === this.tracks[0]) this.retainedSeen();
  }

  /** A `recorder/<device>/status`: a device that recorded gets components (up to the cap), a cleared one loses them. */
  onDeviceStatus(topic: string, payload: Buffer): void {
    const device = topic.split('/').at(-2) ?? '';
    if (!NAME_PATTERN.test(device)) return;
    const maxDevices = this.opts.maxRecorderDevices ?? 16;
    const had = this.devices.has(device);
    if (payload.length === 0) this.devices.delete(device);
    else if (!had && hasRecorded(payload)) {
      if (this.devices.size < maxDevices) this.devices.add(device);
      else if (!this.overCapLogged) {
        this.overCapLogged = true;
        this.opts.log.warn(
          { device, maxDevices },
          'more recorder devices than recorder.max_discovery_devices; the others get no entities',
        );
      }
    }
    if (had !== this.devices.has(device)) this.soon();
  }

  /** Publishes after the debounce (only once started). */
  soon(): void {
    if (!this.started) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.queue(false), DEBOUNCE_MS);
  }

  /** Publishes after every publish queued before; `force` republishes unchanged configs. Never rejects. */
  queue(force: boolean): Promise<void> {
    this.chain = this.chain
      .then(() => this.publish(force))
      .catch((err) => this.opts.log.warn({ err: toAppError(err).message }, 'discovery publish failed'));
    return this.chain;
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    await this.chain;
  }

  private async publish(force: boolean): Promise<void> {
    if (!this.opts.bus.connected()) return;
    const ctx: DiscoveryContext = {
      ...this.opts.context,
      recorderDevices: [...this.devices],
      group: this.groupContext(),
    };
    for (const track of this.tracks) await this.publishTrack(track, ctx, force);
  }

  private groupContext(): DiscoveryContext['group'] {
    const { group } = this.opts;
    if (!group) return undefined;
    const topics = new Set(group.peers.known().map((id) => group.availabilityOf(id)));
    for (const t of listedAvailability(this.tracks[1]?.seen)) topics.add(t);
    return { id: groupDeviceId(group.name), name: group.name, availabilityTopics: [...topics].sort() };
  }

  private async publishTrack(track: Track, ctx: DiscoveryContext, force: boolean): Promise<void> {
    const { bus, log } = this.opts;
    if (!this.opts.enabled) {
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
  }
}

/** `PRESS` on the button topic clears the cache; retained presses are ignored (an old one must not act again). */
async function attachClearCache(opts: DiscoveryOptions): Promise<void> {
  const { bus, log, context } = opts;
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
