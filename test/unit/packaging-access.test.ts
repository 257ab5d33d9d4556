/**
 * The permissions config.yaml grants are the ones the code uses, and nothing more. Every Supervisor path in src/
 * (each `supervisorGet(…, '<path>', …)` and each Home Assistant Core call under `/core/api`) is checked against the
 * Supervisor's access rules (test/servers/supervisor-access.ts, restated from home-assistant/supervisor
 * `supervisor/api/middleware/security.py` and `supervisor/api/proxy.py`) with the grants of config.yaml.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_DIR } from '../../src/config/manifest.js';
import { grantsOf, supervisorAccess } from '../servers/supervisor-access.js';

/** The files allowed to build Supervisor URLs: the one GET helper, and the Core API client. */
const SUPERVISOR_CLIENTS = ['src/config/supervisor.ts', 'src/playback/home-assistant.ts'];

/** Grants an add-on like ours has no use for; each would lower the add-on's security rating. */
const NEEDLESS_GRANTS = [
  'auth_api',
  'docker_api',
  'full_access',
  'host_network',
  'host_pid',
  'host_dbus',
  'host_ipc',
  'host_uts',
  'privileged',
  'devices',
  'gpio',
  'usb',
  'uart',
  'kernel_modules',
  'realtime',
  'udev',
  'devicetree',
];

interface CallSite {
  file: string;
  line: number;
  path: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** Every Supervisor path the code calls, and the problems of call sites the scan cannot read. */
function supervisorCallSites(): { sites: CallSite[]; problems: string[] } {
  const sites: CallSite[] = [];
  const problems: string[] = [];
  for (const abs of sourceFiles(join(REPO_DIR, 'src'))) {
    const file = relative(REPO_DIR, abs);
    const text = readFileSync(abs, 'utf8');
    if (!SUPERVISOR_CLIENTS.includes(file)) {
      for (const m of text.matchAll(/\$\{[^}]*supervisorUrl[^}]*\}/g)) {
        problems.push(
          `${file}:${lineOf(text, m.index)} builds a Supervisor URL itself; call supervisorGet (src/config/supervisor.ts) so this test sees the path`,
        );
      }
    }
    for (const m of text.matchAll(/(function\s+)?supervisorGet(?:<[\s\S]*?>)?\(([^)]*)\)/g)) {
      if (m[1]) continue; // the definition
      const literal = /['`](\/[^'`$]*)['`]/.exec(m[2] as string);
      if (literal) sites.push({ file, line: lineOf(text, m.index), path: literal[1] as string });
      else
        problems.push(
          `${file}:${lineOf(text, m.index)} calls supervisorGet with a path that is not a literal`,
        );
    }
  }
  const client = 'src/playback/home-assistant.ts';
  const text = readFileSync(join(REPO_DIR, client), 'utf8');
  if (!text.includes('/core/api`'))
    problems.push(`${client}: no longer builds its base URL as <supervisor>/core/api`);
  for (const m of text.matchAll(/request\(\s*'(?:GET|POST|PUT|DELETE)',\s*[`'](\/[^`']*)[`']/g)) {
    const path = `/core/api${(m[1] as string).replace(/\$\{[^}]*\}/g, 'x')}`;
    sites.push({ file: client, line: lineOf(text, m.index), path });
  }
  return { sites, problems };
}

const config = parse(readFileSync(join(REPO_DIR, 'config.yaml'), 'utf8')) as Record<string, unknown>;
const grants = grantsOf(config);

describe('packaging: the Supervisor API the code calls and what config.yaml grants', () => {
  it('finds the Supervisor calls in src/ (mqtt service, network info, own info, Core services and states)', () => {
    const { sites, problems } = supervisorCallSites();
    expect(problems).toEqual([]);
    expect([...new Set(sites.map((s) => s.path))].sort()).toEqual(
      expect.arrayContaining([
        '/addons/self/info',
        '/core/api/services/x/x',
        '/core/api/states/x',
        '/network/info',
        '/services/mqtt',
      ]),
    );
  });

  it('grants every path the code calls', () => {
    const refused = supervisorCallSites()
      .sites.map((s) => ({ s, access: supervisorAccess(s.path, grants) }))
      .filter(({ access }) => !access.allowed)
      .map(({ s, access }) => `${s.file}:${s.line}: ${access.reason}`);
    expect(refused).toEqual([]);
  });

  it('grants nothing more: each API grant is needed by some call, and no needless privilege', () => {
    const decisions = supervisorCallSites().sites.map((s) => supervisorAccess(s.path, grants));
    const needed = new Set(decisions.map((d) => d.needs));
    const problems: string[] = [];
    if (grants.hassio_api && !needed.has('hassio_api'))
      problems.push('hassio_api: true, but no call needs it');
    if (grants.homeassistant_api && !needed.has('homeassistant_api')) {
      problems.push('homeassistant_api: true, but no call goes to /core/api');
    }
    const roles = decisions.filter((d) => d.needs === 'hassio_api').map((d) => d.role);
    if (grants.hassio_role !== 'default' && !roles.includes(grants.hassio_role)) {
      problems.push(`hassio_role: ${grants.hassio_role}, but the calls need no more than the default role`);
    }
    for (const key of NEEDLESS_GRANTS) {
      const value = config[key];
      if (value !== undefined && value !== false)
        problems.push(`${key}: ${JSON.stringify(value)} is not needed`);
    }
    if (config.apparmor === false) problems.push('apparmor: false turns off the AppArmor profile');
    expect(problems).toEqual([]);
  });

  it('restates the Supervisor rules the checks rely on', () => {
    const none = { hassio_api: false, hassio_role: 'default', homeassistant_api: false } as const;
    expect(supervisorAccess('/services/mqtt', none)).toMatchObject({ allowed: true, needs: 'none' });
    expect(supervisorAccess('/addons/self/info', none)).toMatchObject({ allowed: true, needs: 'none' });
    expect(supervisorAccess('/addons/self/security', none)).toMatchObject({ allowed: false, status: 403 });
    expect(supervisorAccess('/network/info', none)).toMatchObject({
      allowed: false,
      status: 403,
      role: 'default',
    });
    expect(supervisorAccess('/network/info', { ...none, hassio_api: true })).toMatchObject({ allowed: true });
    expect(supervisorAccess('/host/reboot', { ...none, hassio_api: true })).toMatchObject({
      allowed: false,
      role: 'manager',
    });
    expect(supervisorAccess('/core/api/states/light.x', none)).toMatchObject({ allowed: false, status: 401 });
    expect(supervisorAccess('/core/api/hassio/x', { ...none, homeassistant_api: true })).toMatchObject({
      allowed: false,
      needs: 'never',
    });
  });
});
