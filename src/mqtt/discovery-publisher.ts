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
import { NAME_PATTERN } from '../recorder/index.js';
import { toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { errorPayload, resultPayload } from '../tts/result.js';
import { checkPayloadSize, type RequestDefaults, toSayRequest } from '../tts/say-request.js';
import type { SayService } from '../tts/say-service.js';
import type { MqttBus } from './client.js';
import { buildDevicePayload, type DiscoveryContext, discoveryTopic, liveComponents } from './discovery.js';
import type { InboxContext, RequestInbox } from './request-inbox.js';
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
  context: Omit<DiscoveryContext, 'recorderDevices'>;
  /** Home Assistant's birth topic, default `homeassistant/status`. */
  birthTopic?: string;
  resultTopic: string;
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
  const { bus, log, context } = opts;
  const topic = discoveryTopic(context.prefix, context.deviceId);
  const devices = new Set<string>();
  let previous: Map<string, string> | undefined;
  let retainedSeen: () => void = () => {};
  const retained = new Promise<void>((r) => {
    retainedSeen = r;
  });
  let lastPublished: string | undefined;
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const publish = async (force: boolean): Promise<void> => {
    if (!bus.connected()) return;
    if (!opts.enabled) {
      // Only a device an earlier run left on the broker needs clearing.
      if (!lastPublished) return;
      lastPublished = '';
      await bus.publish(topic, '', { qos: 1, retain: true });
      log.info({ topic }, 'discovery cleared');
      return;
    }
    const ctx: DiscoveryContext = { ...context, recorderDevices: [...devices] };
    const current = liveComponents(buildDevicePayload(ctx, new Map()));
    const removed = new Map([...(previous ?? [])].filter(([cmp]) => !current.has(cmp)));
    const json = JSON.stringify(buildDevicePayload(ctx, removed));
    // Everything ever live stays known, so a component that goes away later is removed too.
    for (const [cmp, p] of current) previous?.set(cmp, p);
    if (!force && json === lastPublished) return;
    lastPublished = json;
    await bus.publish(topic, json, { qos: 1, retain: true });
    log.info({ topic, components: current.size, removed: removed.size }, 'discovery published');
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

  await bus.subscribe(topic, 1, (_t, payload) => {
    // Only the retained message of an earlier run matters: what it had that we no longer have gets removed.
    if (previous === undefined) {
      const text = payload.toString('utf8');
      lastPublished = text;
      previous = new Map();
      try {
        if (text) previous = liveComponents(JSON.parse(text));
      } catch {
        log.warn({ topic }, 'retained discovery payload is not JSON; replacing it');
      }
    }
    retainedSeen();
  });
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

  await attachCommands(opts);

  return {
    async start() {
      await Promise.race([retained, new Promise((r) => setTimeout(r, RETAINED_WAIT_MS))]);
      previous ??= new Map();
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
      const result = await opts.sayService.say(request, ctx.signal, { ledger: ctx.ledger });
      await bus.publish(opts.resultTopic, JSON.stringify(resultPayload(result)), { qos: 1 });
    } catch (err) {
      if (isShutdown(err, ctx)) return false; // replayed at the next start
      const e = toAppError(err);
      log.warn({ id, code: e.code, err: e.message }, 'notify say failed');
      await bus.publish(opts.resultTopic, JSON.stringify(errorPayload(id, e)), { qos: 1 }).catch(() => {});
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
