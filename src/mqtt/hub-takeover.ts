/**
 * What a live hub does when another hub of its share group goes offline (issue 15), so no request that hub
 * held is lost or waits for it:
 * 1. at once, it takes over the dead hub's broker session (session-takeover.ts): the requests the broker had
 *    queued or unacknowledged for it are journaled and run here, and the session leaves the share group, so
 *    the broker sends new requests to live hubs only;
 * 2. if the hub is still offline `takeoverMs` later, it claims the dead hub's request journal on the share
 *    volume (`<share>/.data/<client id>/requests.journal`, renamed into its own dir, so exactly one hub gets
 *    it) and runs the requests that hub had acknowledged but not finished, with their attempts and the
 *    targets that already played.
 * Only one live hub acts for a dead one: the rendezvous owner of `takeover:<id>` among the online hubs. A hub
 * that comes back before the delay replays its own journal itself.
 */
import { join } from 'node:path';
import type { Log } from '../shared/log.js';
import { sharedFilter } from './client.js';
import type { HubPeers } from './hub-peers.js';
import type { RequestInbox } from './inbox-types.js';
import { journalKeys } from './journal-file.js';
import { JOURNAL_FILE } from './request-journal.js';
import { takeOverSession } from './session-takeover.js';

/** The takeover watcher. */
export interface HubTakeover {
  /** Acts on hubs already offline, then on every change (call once the inbox runs). */
  start(): void;
  /** Cancels pending journal takeovers and waits for a session takeover in progress. */
  stop(): Promise<void>;
}

/** Options of {@link createHubTakeover}. */
export interface HubTakeoverOptions {
  peers: HubPeers;
  inbox: RequestInbox;
  /** Broker URL and login (the hub's own). */
  broker: { url: string; username?: string; password?: string };
  shareGroup: string;
  /** `<share>/.data`: each hub's journal is `<dir>/<client id>/requests.journal`. */
  journalsDir: string;
  /** `mqtt.takeover_s` in ms; 0: journals are never taken over. */
  takeoverMs: number;
  log: Log;
}

/** Creates the watcher; nothing happens before `start()`. */
export function createHubTakeover(opts: HubTakeoverOptions): HubTakeover {
  const { peers, inbox, log } = opts;
  const timers = new Map<string, NodeJS.Timeout>();
  let running = false;
  let chain: Promise<void> = Promise.resolve();

  const journalOf = (id: string): string => join(opts.journalsDir, id, JOURNAL_FILE);
  const mine = (id: string): boolean => peers.ownerOf(`takeover:${id}`) === peers.self;

  const takeSession = async (id: string): Promise<void> => {
    if (!running || peers.isOnline(id) || !mine(id)) return;
    const theirKeys = await journalKeys(journalOf(id)).catch(() => new Set<string>());
    const outcome = await takeOverSession({
      ...opts.broker,
      clientId: id,
      sharedFilters: inbox.filters().map((f) => sharedFilter(opts.shareGroup, f)),
      theirKeys,
      inbox,
      log,
    });
    if (outcome.sessionPresent || outcome.taken)
      log.info({ hub: id, ...outcome }, 'took over the broker session of an offline hub');
  };

  const takeJournal = async (id: string): Promise<void> => {
    timers.delete(id);
    if (!running || peers.isOnline(id) || !mine(id)) return;
    const n = await inbox.takeJournal(journalOf(id));
    if (n) log.warn({ hub: id, requests: n }, 'took over the unfinished requests of an offline hub');
  };

  const queue = (work: () => Promise<void>): void => {
    chain = chain.then(work).catch((err) => log.warn({ err }, 'takeover failed'));
  };

  const offline = (id: string): void => {
    queue(() => takeSession(id));
    if (opts.takeoverMs > 0 && !timers.has(id)) {
      const timer = setTimeout(() => queue(() => takeJournal(id)), opts.takeoverMs);
      timer.unref();
      timers.set(id, timer);
    }
  };

  return {
    start() {
      running = true;
      peers.onChange((id, online) => {
        if (!running) return;
        if (!online) return offline(id);
        clearTimeout(timers.get(id));
        timers.delete(id);
      });
      for (const id of peers.known()) if (id !== peers.self && !peers.isOnline(id)) offline(id);
    },
    async stop() {
      running = false;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      await chain;
    },
  };
}
