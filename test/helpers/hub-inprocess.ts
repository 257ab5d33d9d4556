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
  /** http://127.0.0.1:<port>, for API calls (with `lanAddress`, `hub.baseUrl` is what players get instead). */
  baseUrl: string;
  close(): Promise<void>;
}

/** How the hub is started besides its options. */
export interface InProcessHubOptions {
  /** The hub's own state dir (default a fresh one under the share dir), so a restarted hub keeps its secrets. */
  dataDir?: string;
  /** The Supervisor (stand-in) the hub talks to, with its token (default none: an unreachable address). */
  supervisor?: { url: string; token: string };
  /**
   * No `external_url`: players get the hub's LAN address, which needs a token (playback tests). Default false:
   * `external_url` is the loopback address.
   */
  lanAddress?: boolean;
}

/**
 * Starts a hub with `raw` options against the broker `mqttUrl`; the HTTP port is filled in, and the share dir
 * too unless `raw.share_dir` is given.
 */
export async function startInProcessHub(
  raw: Record<string, unknown>,
  mqttUrl: string,
  opts: InProcessHubOptions = {},
): Promise<InProcessHub> {
  // A given share dir (e.g. a tmpfs mount) belongs to the caller; only our own temp dir is removed on close.
  const ownDir = raw.share_dir === undefined;
  const shareDir = (raw.share_dir as string | undefined) ?? mkdtempSync(join(tmpdir(), 'tts-hub-share-'));
  const port = await freePort();
  const externalUrl = opts.lanAddress ? {} : { external_url: `http://127.0.0.1:${port}` };
  const options = parseOptions({
    ...raw,
    share_dir: shareDir,
    mqtt: { url: mqttUrl, client_id: `hub-${port}`, ...(raw.mqtt as object) },
    http: { port, ...externalUrl, ...(raw.http as object) },
  });
  const hub = await createHub(
    {
      options,
      source: undefined,
      inAddon: false,
      supervisorUrl: opts.supervisor?.url ?? 'http://127.0.0.1:1',
      supervisorToken: opts.supervisor?.token,
      dataDir: opts.dataDir ?? join(shareDir, '.data', `hub-${port}`),
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
      if (ownDir) rmSync(shareDir, { recursive: true, force: true });
    },
  };
}

/** Runs `body` against a hub started with `raw` options on `mqttUrl`, then closes the hub (also when `body` throws). */
export async function withInProcessHub(
  raw: Record<string, unknown>,
  mqttUrl: string,
  body: (hub: InProcessHub) => Promise<void>,
): Promise<void> {
  const hub = await startInProcessHub(raw, mqttUrl);
  try {
    await body(hub);
  } finally {
    await hub.close();
  }
}

/** POST /api/say on `hub` with `request`; resolves with the JSON body (a result or `{ok:false, error}`). */
export async function postSay(
  hub: { baseUrl: string },
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${hub.baseUrl}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  return (await res.json()) as Record<string, unknown>;
}
