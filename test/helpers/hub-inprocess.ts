/** Builds and starts the hub inside the test process, for assertions on counters (ffmpeg runs, engine calls). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '../../src/config/load.js';
import { createHub, type Hub } from '../../src/hub.js';
import { silentLog } from '../../src/shared/log.js';
import { freePort } from './ports.js';

/** A started in-process hub and its temp share dir; `close()` stops it and removes the dir. */
export interface InProcessHub {
  hub: Hub;
  shareDir: string;
  baseUrl: string;
  close(): Promise<void>;
}

/** Starts a hub with `raw` options (share dir and HTTP port filled in) against the broker `mqttUrl`. */
export async function startInProcessHub(
  raw: Record<string, unknown>,
  mqttUrl: string,
): Promise<InProcessHub> {
  const shareDir = mkdtempSync(join(tmpdir(), 'tts-hub-share-'));
  const port = await freePort();
  const options = parseOptions({
    ...raw,
    share_dir: shareDir,
    mqtt: { url: mqttUrl, client_id: `hub-${port}`, ...(raw.mqtt as object) },
    http: { port, external_url: `http://127.0.0.1:${port}`, ...(raw.http as object) },
  });
  const hub = await createHub(
    {
      options,
      source: undefined,
      inAddon: false,
      supervisorUrl: 'http://127.0.0.1:1',
      supervisorToken: undefined,
    },
    silentLog(),
  );
  await hub.start();
  return {
    hub,
    shareDir,
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await hub.stop(1000);
      rmSync(shareDir, { recursive: true, force: true });
    },
  };
}
