/**
 * One hub plus its broker for a test file: a real mosquitto on a free port, an in-process hub with the given
 * options, and an MQTT test client subscribed to the result topic. `close()` closes all three, in reverse.
 */
import type { Hub } from '../../src/hub.js';
import { type InProcessHubOptions, startInProcessHub } from './hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from './mosquitto.js';
import { connectSayClient, type SayClient } from './mqtt.js';

/** A started broker, hub and client. */
export interface HubFixture {
  broker: RunningMosquitto;
  hub: Hub;
  /** The hub's share dir (a temp dir, removed on close). */
  shareDir: string;
  /** http://127.0.0.1:<port>, for API calls. */
  url: string;
  client: SayClient;
  close(): Promise<void>;
}

/** What the fixture starts besides the hub's options. */
export interface HubFixtureOptions extends InProcessHubOptions {
  /** Extra mosquitto configuration lines. */
  mosquitto?: Parameters<typeof startMosquitto>[0];
  /** The test client's topics (default: tts/say and tts/result). */
  client?: Parameters<typeof connectSayClient>[1];
}

/**
 * Starts mosquitto, then the hub with `raw` options (or the options `raw(broker)` gives, for options that name
 * the broker), then the client. On a failure part-way, what started is closed before the error is rethrown.
 */
export async function startHubFixture(
  raw: Record<string, unknown> | ((broker: RunningMosquitto) => Record<string, unknown>),
  opts: HubFixtureOptions = {},
): Promise<HubFixture> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const broker = await startMosquitto(opts.mosquitto);
    closers.push(() => broker.stop());
    const options = typeof raw === 'function' ? raw(broker) : raw;
    const hub = await startInProcessHub(options, broker.url, opts);
    closers.push(() => hub.close());
    const client = await connectSayClient(broker.url, opts.client);
    closers.push(() => client.close());
    return { broker, hub: hub.hub, shareDir: hub.shareDir, url: hub.baseUrl, client, close };
  } catch (err) {
    await close();
    throw err;
  }
}
