import { networkInterfaces } from 'node:os';
import type { Log } from '../shared/log.js';
import { portKey } from './addon-ports.js';
import { supervisorGet, supervisorHostAddress } from './supervisor.js';

/** The first non-internal IPv4 address of this host, for URLs players on the LAN can reach. */
export function lanAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return '127.0.0.1';
}

/**
 * The host port the Supervisor publishes for the add-on's container port `containerPort` (`GET /addons/self/info`,
 * its `network` map `{"8099/tcp": <host port> | null}`; null: the user disabled the mapping). Resolves undefined
 * when the Supervisor does not answer or the port is not in the map. Never throws.
 * Source: home-assistant/supervisor `supervisor/api/apps.py` (`network: app.ports`, the user's mapping over the
 * config's); `/addons/self/...` needs no `hassio_api` (`supervisor/api/middleware/security.py`, api_bypass).
 */
export async function supervisorPublishedPort(
  supervisorUrl: string,
  token: string,
  containerPort: number,
  log: Log,
): Promise<number | null | undefined> {
  const info = await supervisorGet<{ network?: Record<string, number | null> | null }>(
    supervisorUrl,
    token,
    '/addons/self/info',
    log,
  );
  const network = info?.network ?? undefined;
  if (!network || !(portKey(containerPort) in network)) return undefined;
  return network[portKey(containerPort)] ?? null;
}

/**
 * The base URL players fetch audio from (no trailing slash): `http.external_url` when set; else, inside the add-on
 * (a Supervisor token), the host's address and the host port mapped to `httpPort`, both asked from the Supervisor;
 * else this machine's LAN address and `httpPort`. A mapping the user disabled is logged (speakers cannot reach the
 * hub then) and the container port is used. Never throws.
 */
export async function resolvePublicBaseUrl(opts: {
  externalUrl: string;
  httpPort: number;
  supervisorUrl: string;
  supervisorToken: string | undefined;
  log: Log;
}): Promise<string> {
  if (opts.externalUrl) return opts.externalUrl.replace(/\/+$/, '');
  if (!opts.supervisorToken) return `http://${lanAddress()}:${opts.httpPort}`;
  const [host, published] = await Promise.all([
    supervisorHostAddress(opts.supervisorUrl, opts.supervisorToken, opts.log),
    supervisorPublishedPort(opts.supervisorUrl, opts.supervisorToken, opts.httpPort, opts.log),
  ]);
  if (published === null) {
    opts.log.warn(
      { port: portKey(opts.httpPort) },
      'the HTTP port is not published on the host, so speakers cannot fetch audio: give it a host port in the add-on Network settings, or set http.external_url',
    );
  }
  return `http://${host ?? lanAddress()}:${published ?? opts.httpPort}`;
}
