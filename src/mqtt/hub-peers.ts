/**
 * The hubs of a share group (issue 15) as the broker shows them. Each hub's availability is retained on
 * `<topics.availability>/<client id>`: `online` on every connect, `offline` when it stops and as its will, which
 * the broker publishes when the hub's connection dies (at once for a killed process; after 1.5 × keepalive
 * for a hub that lost power). Every hub reads the same retained messages, so all hubs agree on who is up
 * (give or take the time a message takes), and decisions made from that view agree too: who records a device
 * (`ownerOf`), who takes over a dead hub's work (hub-takeover.ts), which hubs the service device lists.
 */
import { createHash } from 'node:crypto';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';

/** Per-hub topics: availability and status under the shared names plus `/<client id>` in a share group. */
export interface HubTopics {
  /** This hub's availability topic. */
  availability: string;
  /** This hub's retained status topic. */
  status: string;
  /** The availability topic of hub `id`. */
  availabilityOf(id: string): string;
}

/**
 * The hub's own topics: as configured for a single hub; in a share group `<availability>/<client id>` and
 * `<status>/<client id>`, so hubs never overwrite each other's retained messages or wills.
 */
export function hubTopics(
  topics: { availability: string; status: string },
  clientId: string,
  shareGroup: string,
): HubTopics {
  const own = (base: string, id: string): string => (shareGroup ? `${base}/${id}` : base);
  return {
    availability: own(topics.availability, clientId),
    status: own(topics.status, clientId),
    availabilityOf: (id) => own(topics.availability, id),
  };
}

/**
 * Rendezvous (highest random weight) choice: the candidate with the highest hash of `candidate + key`. Every
 * hub computes the same answer from the same candidates, and when one candidate leaves only the keys it had
 * move. Undefined for no candidates.
 */
export function rendezvous(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const c of candidates) {
    const score = createHash('sha256').update(c).update('\u0000').update(key).digest('hex');
    if (best === undefined || score > bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** The hubs of the group. */
export interface HubPeers {
  /** This hub's client id. */
  readonly self: string;
  /** Client ids online now, sorted; this hub counts as online while it runs. */
  online(): string[];
  /** Every hub that left a retained availability (online or not), this hub included, sorted. */
  known(): string[];
  isOnline(id: string): boolean;
  /** The online hub that owns `key` (rendezvous over `online()`). */
  ownerOf(key: string): string;
  /** Called when a hub's availability changes (not for this hub). A throwing listener is logged. */
  onChange(listener: (id: string, online: boolean) => void): void;
}

/**
 * Subscribes `<availability base>/+` (call before `bus.start()`, so the retained states arrive at connect).
 * Client ids that are not one topic level are ignored.
 */
export async function attachHubPeers(opts: {
  bus: MqttBus;
  /** `topics.availability` (the base, without a client id). */
  availabilityBase: string;
  self: string;
  log: Log;
}): Promise<HubPeers> {
  const states = new Map<string, boolean>([[opts.self, true]]);
  const listeners: Array<(id: string, online: boolean) => void> = [];
  const prefix = `${opts.availabilityBase}/`;
  await opts.bus.subscribe(`${prefix}+`, 1, (topic, payload) => {
    const id = topic.slice(prefix.length);
    if (!id || id === opts.self) return;
    const text = payload.toString('utf8').trim();
    const before = states.get(id);
    if (text === '') states.delete(id);
    else states.set(id, text === 'online');
    const now = states.get(id) ?? false;
    if (before === now) return;
    opts.log.info({ hub: id, online: now }, 'hub availability changed');
    for (const l of listeners) {
      try {
        l(id, now);
      } catch (err) {
        opts.log.error({ err }, 'hub availability listener threw');
      }
    }
  });
  const online = (): string[] =>
    [...states]
      .filter(([, up]) => up)
      .map(([id]) => id)
      .sort();
  return {
    self: opts.self,
    online,
    known: () => [...states.keys()].sort(),
    isOnline: (id) => states.get(id) === true,
    ownerOf: (key) => rendezvous(key, online()) ?? opts.self,
    onChange: (l) => {
      listeners.push(l);
    },
  };
}
