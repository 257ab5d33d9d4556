/**
 * Starts the hub in the test process for playback tests: no `external_url` (so players get the LAN address)
 * and the Supervisor stand-in as TTS_HUB_SUPERVISOR_URL with its token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '../../src/config/load.js';
import { createHub, type Hub } from '../../src/hub.js';
import { silentLog } from '../../src/shared/log.js';
import { freePort } from './ports.js';

/** A started hub; `close()` stops it and removes its share dir. */
export interface TargetsHub {
  hub: Hub;
  /** http://127.0.0.1:<port>, for API calls (`hub.baseUrl` is the LAN address players get, which needs a token). */
  localUrl: string;
  close(): Promise<void>;
}

/** Starts a hub with `raw` options against `mqttUrl`, talking to the Supervisor at `supervisor`. */
export async function startTargetsHub(
  raw: Record<string, unknown>,
  mqttUrl: string,
  supervisor?: { url: string; token: string },
): Promise<TargetsHub> {
  const shareDir = mkdtempSync(join(tmpdir(), 'tts-hub-share-'));
  const port = await freePort();
  const options = parseOptions({
    ...raw,
    share_dir: shareDir,
    mqtt: { url: mqttUrl, client_id: `hub-${port}` },
    http: { port },
  });
  const hub = await createHub(
    {
      options,
      source: undefined,
      inAddon: false,
      supervisorUrl: supervisor?.url ?? 'http://127.0.0.1:1',
      supervisorToken: supervisor?.token,
      dataDir: join(options.share_dir, '.data', options.mqtt.client_id),
    },
    silentLog(),
  );
  await hub.start();
  return {
    hub,
    localUrl: `http://127.0.0.1:${port}`,
    async close() {
      await hub.stop(1000);
      rmSync(shareDir, { recursive: true, force: true });
    },
  };
}
