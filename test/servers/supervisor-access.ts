/**
 * Which Supervisor API paths an add-on may call with its token, given what its config.yaml grants. Restated in our
 * words from home-assistant/supervisor (2026-08):
 * - `supervisor/api/middleware/security.py` (v1 paths): a blocklist for everyone (Core's own hassio endpoints); the
 *   Core proxy paths (`/core/api/...`, `/core/websocket`, `/homeassistant/api/...`) skip the token check there;
 *   paths any add-on may call without a grant (`/addons/self/<anything but security or update>`,
 *   `/addons/self/options/config`, `/info`, `/services...`, `/discovery...`, `/auth`); everything else needs
 *   `hassio_api: true` and a path its `hassio_role` allows (default: any `/<...>/info`), else 403.
 * - `supervisor/api/proxy.py`: the Core proxy answers 401 unless the add-on has `homeassistant_api: true`.
 * Used by the Supervisor stand-in (test/servers/home-assistant.ts) and test/unit/packaging-access.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** `hassio_role` values (`supervisor/const.py` ROLE_*). */
export type HassioRole = 'default' | 'homeassistant' | 'backup' | 'manager' | 'admin';

/** The API grants of an add-on's config.yaml, with the Supervisor's defaults filled in. */
export interface AddonGrants {
  hassio_api: boolean;
  hassio_role: HassioRole;
  homeassistant_api: boolean;
}

/** What the Supervisor does with a call, and which grant made (or would make) it pass. */
export interface AccessDecision {
  allowed: boolean;
  /** The status the Supervisor answers a refused call with (200 when allowed). */
  status: 200 | 401 | 403;
  /** The grant the path needs: none, `hassio_api` (with `role`), or `homeassistant_api`. */
  needs: 'none' | 'hassio_api' | 'homeassistant_api' | 'never';
  /** The least role that allows the path, when `needs` is `hassio_api`. */
  role?: HassioRole;
  reason: string;
}

const SLUG = '[-_.A-Za-z0-9]+';
const BLOCKED = /^(?:\/homeassistant\/api\/hassio(?:\/|_).*|\/core\/api\/hassio(?:\/|_).*)$/;
const CORE_PROXY =
  /^(?:\/homeassistant\/api\/.*|\/homeassistant\/websocket|\/core\/api\/.*|\/core\/websocket)$/;
const ANY_ADDON =
  /^(?:\/addons\/self\/(?!security|update)[^/]+|\/addons\/self\/options\/config|\/info|\/services.*|\/discovery.*|\/auth)$/;
const INFO = '/.+/info';
/** Each role's paths beyond nothing, least role first (`admin` allows everything). */
const ROLE_PATHS: ReadonlyArray<[HassioRole, RegExp]> = [
  ['default', new RegExp(`^(?:${INFO})$`)],
  ['homeassistant', new RegExp(`^(?:${INFO}|/core/.+|/homeassistant/.+)$`)],
  ['backup', new RegExp(`^(?:${INFO}|/backups.*)$`)],
  [
    'manager',
    new RegExp(
      `^(?:${INFO}|/addons(?:/${SLUG}/(?!security).+|/reload)?|/audio/.+|/auth/cache|/available_updates|/backups.*` +
        '|/cli/.+|/core/.+|/dns/.+|/docker/.+|/jobs/.+|/hardware/.+|/homeassistant/.+|/host/.+|/mounts.*' +
        '|/multicast/.+|/network/.+|/observer/.+|/os/(?!datadisk/wipe).+|/refresh_updates|/resolution/.+' +
        '|/security/.+|/snapshots.*|/store.*|/supervisor/.+)$',
    ),
  ],
  ['admin', /.*/],
];

/** Whether `role` allows `path` (for an add-on with `hassio_api: true`). */
function roleAllows(role: HassioRole, path: string): boolean {
  return (ROLE_PATHS.find(([r]) => r === role)?.[1] ?? /$^/).test(path);
}

/** The Supervisor's decision for an add-on with `grants` calling `path` (no query string) with its own token. */
export function supervisorAccess(path: string, grants: AddonGrants): AccessDecision {
  if (BLOCKED.test(path)) {
    return { allowed: false, status: 403, needs: 'never', reason: `${path} is blocked for every caller` };
  }
  if (CORE_PROXY.test(path)) {
    const allowed = grants.homeassistant_api;
    const reason = allowed
      ? `${path} goes to Home Assistant Core's API (homeassistant_api: true)`
      : `${path} is Home Assistant Core's API, which needs homeassistant_api: true (the proxy answers 401)`;
    return { allowed, status: allowed ? 200 : 401, needs: 'homeassistant_api', reason };
  }
  if (ANY_ADDON.test(path)) {
    return { allowed: true, status: 200, needs: 'none', reason: `${path} is open to every add-on` };
  }
  const role = ROLE_PATHS.find(([, pattern]) => pattern.test(path))?.[0] ?? 'admin';
  const allowed = grants.hassio_api && roleAllows(grants.hassio_role, path);
  const reason = allowed
    ? `${path} is allowed by hassio_api: true with role ${grants.hassio_role}`
    : `${path} needs hassio_api: true and hassio_role ${role} or above (has hassio_api: ${grants.hassio_api}, role ${grants.hassio_role}); the Supervisor answers 403`;
  return { allowed, status: allowed ? 200 : 403, needs: 'hassio_api', role, reason };
}

/** The grants of a parsed config.yaml, the Supervisor's defaults filled in (`supervisor/apps/validate.py`). */
export function grantsOf(config: Record<string, unknown>): AddonGrants {
  return {
    hassio_api: config.hassio_api === true,
    hassio_role: (config.hassio_role as HassioRole | undefined) ?? 'default',
    homeassistant_api: config.homeassistant_api === true,
  };
}

/** The grants of the repository's config.yaml. */
export function manifestGrants(repoDir: string): AddonGrants {
  return grantsOf(parse(readFileSync(join(repoDir, 'config.yaml'), 'utf8')) as Record<string, unknown>);
}
