/**
 * The recorder's MQTT outputs (DESIGN "MQTT"): the retained `recorder/<device>/status` and `recorder/status`,
 * published from the recorder's events (`recorder/events.ts`).
 */

import type { RecorderEvents } from '../recorder/events.js';
import type { DeviceStatus, Recorder, RecorderTotals } from '../recorder/index.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import type { DeviceOwnership } from './device-ownership.js';
import type { HubPeers } from './hub-peers.js';

/** Publishes the recorder's retained status topics; statuses before `bind` wait (latest per topic). */
export interface RecorderStatusPublisher {
  /** Starts publishing on `bus`, first what waited. */
  bind(bus: MqttBus): void;
  /** `recorder/<device>/status`, retained, QoS 1. */
  status(device: string, payload: DeviceStatus): void;
  /** `recorder/status`, retained, QoS 1. */
  totals(payload: RecorderTotals): void;
  /** Resolves once every publish so far is acknowledged or failed (call before the bus stops). */
  flush(): Promise<void>;
}

/**
 * Creates the status publisher for topic prefix `prefix` (option `topics.recorder`). A failed publish is logged.
 * `hub` (a share group: this hub's client id) is added to every device status as `hub`, so the other hubs know
 * who records the device.
 */
export function createRecorderStatusPublisher(
  prefix: string,
  log: Log,
  hub?: string,
): RecorderStatusPublisher {
  let bus: MqttBus | undefined;
  const waiting = new Map<string, string>();
  const pending = new Set<Promise<void>>();
  const send = (topic: string, json: string): void => {
    if (!bus) {
      waiting.set(topic, json);
      return;
    }
    const p = bus
      .publish(topic, json, { qos: 1, retain: true })
      .catch((err: unknown) =>
        log.warn({ topic, err: (err as Error).message }, 'recorder status publish failed'),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  return {
    bind(b) {
      bus = b;
      for (const [topic, json] of waiting) send(topic, json);
      waiting.clear();
    },
    status: (device, payload) =>
      send(`${prefix}/${device}/status`, JSON.stringify(hub ? { ...payload, hub } : payload)),
    totals: (payload) => send(`${prefix}/status`, JSON.stringify(payload)),
    async flush() {
      await Promise.allSettled([...pending]);
    },
  };
}

/**
 * Publishes the recorder's events on `publisher`. In a share group (`share`), a status of this hub (a
 * recovered recording, an error) must not hide that another hub records the device right now: the retained
 * status is that hub's until its recording ends; and the format goes out too, so a hub that takes the device
 * over records it in the right one. `ownership()` is the group's view of who records what (once attached).
 * Returns the function that stops listening.
 */
export function publishRecorderEvents(opts: {
  events: EventHub<RecorderEvents>;
  publisher: RecorderStatusPublisher;
  recorder: Recorder;
  share?: { hubId: string; peers(): HubPeers | undefined };
  ownership: () => DeviceOwnership | undefined;
}): () => void {
  const { publisher, recorder, share } = opts;
  const offStatus = opts.events.on('recorder', (payload) => {
    const device = payload.device;
    const holder = opts.ownership()?.holder(device);
    const held = holder !== undefined && holder !== share?.hubId && share?.peers()?.isOnline(holder);
    const format = share ? recorder.active(device)?.format : undefined;
    const shown = format
      ? { ...payload, format: { rate: format.rateHz, width: format.widthBytes, channels: format.channels } }
      : payload;
    if (!held || payload.state === 'recording') publisher.status(device, shown);
  });
  const offTotals = opts.events.on('recorderTotals', (payload) => publisher.totals(payload));
  return () => {
    offStatus();
    offTotals();
  };
}
