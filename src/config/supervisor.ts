import type { Log } from '../shared/log.js';

/** One interface in the Supervisor's `GET /network/info` answer (only the fields we read). */
interface SupervisorInterface {
  primary?: boolean;
  connected?: boolean;
  ipv4?: { address?: string[] };
  /** Older Supervisors: `ip_address: "192.168.1.100/24"`. */
  ip_address?: string;
}

function firstIpv4(iface: SupervisorInterface): string | undefined {
  const raw = iface.ipv4?.address?.[0] ?? iface.ip_address;
  return raw ? raw.split('/')[0] : undefined;
}

/**
 * `GET <supervisorUrl><path>` with the add-on's bearer token (5 s limit); resolves the JSON body's `data`, or
 * undefined (logged at warn) when the Supervisor does not answer or answers an error. Never throws.
 * Source: the Supervisor API answers `{result: "ok", data: {...}}` (home-assistant/supervisor `supervisor/api/utils.py`).
 */
export async function supervisorGet<T>(
  supervisorUrl: string,
  token: string,
  path: string,
  log: Log,
): Promise<T | undefined> {
  try {
    const res = await fetch(`${supervisorUrl}${path}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) {
      log.warn({ path, status: res.status }, 'supervisor request refused');
      return undefined;
    }
    return ((await res.json()) as { data?: T }).data;
  } catch (err) {
    log.warn({ path, err: (err as Error).message }, 'supervisor request failed');
    return undefined;
  }
}

/**
 * The host's LAN address as the Supervisor reports it (`GET <supervisorUrl>/network/info`, bearer token), for
 * URLs that speakers on the LAN must reach: inside the add-on container, the container's own address is on the
 * Supervisor's internal network and unreachable from players. Prefers the primary interface.
 * Source: home-assistant/supervisor `supervisor/api/network.py` (interfaces with `primary` and `ipv4.address`
 * as "a.b.c.d/prefix"; older versions sent a map with `ip_address`).
 * Resolves undefined when the Supervisor does not answer; never throws.
 */
export async function supervisorHostAddress(
  supervisorUrl: string,
  token: string,
  log: Log,
): Promise<string | undefined> {
  const data = await supervisorGet<{
    interfaces?: SupervisorInterface[] | Record<string, SupervisorInterface>;
  }>(supervisorUrl, token, '/network/info', log);
  const raw = data?.interfaces ?? [];
  const interfaces = Array.isArray(raw) ? raw : Object.values(raw);
  const ordered = [...interfaces.filter((i) => i.primary), ...interfaces.filter((i) => !i.primary)];
  for (const iface of ordered) {
    const address = firstIpv4(iface);
    if (address) return address;
  }
  return undefined;
}
