/**
 * Several hubs on one broker and one share volume (option `mqtt.share_group`, issue 15), wired in one place:
 * the hub's own topics (per client id in a group), where its request journal lives (on the share volume in a
 * group, so a live hub can take it over), the view of the other hubs (hub-peers.ts) and the takeover of a dead
 * hub's work (hub-takeover.ts). Without a group everything is as for a single hub and nothing runs.
 */
import { join } from 'node:path';
import type { LoadedConfig } from './config/load.js';
import type { MqttBus } from './mqtt/client.js';
import { attachHubPeers, type HubPeers, type HubTopics, hubTopics } from './mqtt/hub-peers.js';
import { createHubTakeover, type HubTakeover } from './mqtt/hub-takeover.js';
import type { RequestInbox } from './mqtt/inbox-types.js';
import { JOURNAL_FILE } from './mqtt/request-journal.js';
import { AppError } from './shared/errors.js';
import type { Log } from './shared/log.js';

/** The group wiring as the hub drives it. */
export interface HubGroup {
  /** The share group's name; '' for a single hub. */
  readonly name: string;
  /** This hub's MQTT client id. */
  readonly self: string;
  readonly topics: HubTopics;
  /** Where this hub's request journal lives. */
  readonly journalDir: string;
  /** The other hubs (after `attach`); undefined without a group. */
  peers(): HubPeers | undefined;
  /** Subscribes the other hubs' availability (before the bus connects). */
  attach(bus: MqttBus): Promise<void>;
  /**
   * After the inbox runs: imports a journal a single-hub setup left in the data dir, then starts taking over
   * the work of hubs that are (or go) offline.
   * @throws AppError CONFIG_INVALID when the broker is the embedded one (it has no shared subscriptions).
   */
  start(opts: {
    inbox: RequestInbox;
    broker: { url: string; username?: string; password?: string };
    embedded: boolean;
  }): Promise<void>;
  stop(): Promise<void>;
}

/** `<share>/.data`: each hub's journal in a group is `<this>/<client id>/requests.journal`. */
export function journalsDir(shareDir: string): string {
  return join(shareDir, '.data');
}

/** Builds the group wiring from the loaded config. */
export function createHubGroup(config: LoadedConfig, log: Log): HubGroup {
  const { options } = config;
  const name = options.mqtt.share_group;
  const self = options.mqtt.client_id;
  const journalDir = name ? join(journalsDir(options.share_dir), self) : config.dataDir;
  let peers: HubPeers | undefined;
  let takeover: HubTakeover | undefined;
  return {
    name,
    self,
    topics: hubTopics(options.topics, self, name),
    journalDir,
    peers: () => peers,
    async attach(bus) {
      if (!name) return;
      peers = await attachHubPeers({
        bus,
        availabilityBase: options.topics.availability,
        self,
        log: log.child({ mod: 'peers' }),
      });
    },
    async start({ inbox, broker, embedded }) {
      if (!name || !peers) return;
      if (embedded) {
        throw new AppError(
          'CONFIG_INVALID',
          `mqtt.share_group '${name}' needs a broker with shared subscriptions (mosquitto 2, EMQX, HiveMQ); the embedded broker has none: set mqtt.url`,
        );
      }
      // A journal left in the data dir by a single-hub setup: its requests are spoken here.
      const legacy = join(config.dataDir, JOURNAL_FILE);
      if (config.dataDir !== journalDir) await inbox.takeJournal(legacy).catch(() => 0);
      takeover = createHubTakeover({
        peers,
        inbox,
        broker,
        shareGroup: name,
        journalsDir: journalsDir(options.share_dir),
        takeoverMs: options.mqtt.takeover_s * 1000,
        log: log.child({ mod: 'takeover' }),
      });
      takeover.start();
      log.info({ group: name, hubs: peers.known(), online: peers.online() }, 'joined the share group');
    },
    async stop() {
      await takeover?.stop();
    },
  };
}
