/**
 * Which hub of a share group records a satellite (issue 15): every hub receives every device's recorder
 * messages (plain subscriptions: a shared one would split one device's audio over hubs), and exactly one keeps
 * them. The hubs agree from what the broker shows all of them:
 * - a device whose retained `recorder/<device>/status` says `recording` by an online hub (`hub` field) stays
 *   with that hub until the recording ends (a hub that comes back never takes over a recording mid-stream);
 * - otherwise the rendezvous owner of the device among the online hubs records it (hub-peers.ts): when that
 *   hub dies (its will says offline), the device's next audio goes to the next hub in its order, which starts a
 *   new recording in the format of the device's last `start`; the dead hub's partial file is recovered by that
 *   hub when it comes back (recorder/owner-registry.ts).
 */
import type { AudioFormat } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import type { HubPeers } from './hub-peers.js';

/** The fields of a retained device status read here (recorder-status.ts adds `hub` and `format`). */
interface StatusSeen {
  state?: unknown;
  hub?: unknown;
  format?: { rate?: unknown; width?: unknown; channels?: unknown };
}

/** The ownership view. */
export interface DeviceOwnership {
  /** True when this hub should record `device` now (the adapter also keeps a recording it has in progress). */
  owns(device: string): boolean;
  /** The hub recording `device` per its retained status, if any. */
  holder(device: string): string | undefined;
  /** The format `device` was last recorded in per its retained status (`format: {rate, width, channels}`). */
  formatOf(device: string): AudioFormat | undefined;
}

/** Subscribes `<prefix>/+/status` (call before `bus.start()`). */
export async function attachDeviceOwnership(opts: {
  bus: MqttBus;
  prefix: string;
  peers: HubPeers;
  log: Log;
}): Promise<DeviceOwnership> {
  const holders = new Map<string, string>();
  const formats = new Map<string, AudioFormat>();
  await opts.bus.subscribe(`${opts.prefix}/+/status`, 1, (topic, payload) => {
    const device = topic.slice(opts.prefix.length + 1, -'/status'.length);
    try {
      const status = payload.length ? (JSON.parse(payload.toString('utf8')) as StatusSeen) : {};
      if (status.state === 'recording' && typeof status.hub === 'string') holders.set(device, status.hub);
      else holders.delete(device);
      const f = status.format;
      if (f && typeof f.rate === 'number' && typeof f.width === 'number' && typeof f.channels === 'number') {
        formats.set(device, { rateHz: f.rate, widthBytes: f.width, channels: f.channels });
      }
    } catch {
      holders.delete(device);
    }
  });
  const holder = (device: string): string | undefined => holders.get(device);
  return {
    holder,
    formatOf: (device) => formats.get(device),
    owns(device) {
      const h = holder(device);
      if (h && h !== opts.peers.self && opts.peers.isOnline(h)) return false;
      return opts.peers.ownerOf(`recorder:${device}`) === opts.peers.self;
    },
  };
}
