/**
 * The add-on as Home Assistant's own validators see it (rules restated in test/helpers/supervisor-schema.ts from
 * home-assistant/supervisor and frenck/action-addon-linter): config.yaml's keys, the options schema and its
 * defaults, the translations both ways, the ports, repository.yaml, and the icon and logo. Each failure names the
 * file, the key and the fix, so an option added on another branch that breaks a rule says exactly what to change.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ADDON_PORTS, portKey } from '../../src/config/addon-ports.js';
import { REPO_DIR } from '../../src/config/manifest.js';
import {
  configKeyProblems,
  type MatchCheck,
  matchPatterns,
  optionValueProblems,
  type SchemaNode,
  schemaShapeProblems,
  type TranslationEntry,
  translationProblems,
} from '../helpers/supervisor-schema.js';

function readYaml(name: string): Record<string, unknown> {
  return parse(readFileSync(join(REPO_DIR, name), 'utf8')) as Record<string, unknown>;
}

const config = readYaml('config.yaml');
const schema = config.schema as Record<string, SchemaNode>;
const options = config.options as Record<string, unknown>;
const ports = config.ports as Record<string, number | null>;

/** Runs Python's `re` (the Supervisor's regex engine) over the patterns and values; returns the problems. */
function pythonRegexProblems(
  patterns: Array<{ path: string; pattern: string }>,
  checks: MatchCheck[],
): string[] {
  const script = [
    'import json, re, sys',
    'data = json.load(sys.stdin)',
    'out = []',
    'for p in data["patterns"]:',
    '    try: re.compile(p["pattern"])',
    "    except re.error as e: out.append(f\"{p['path']}: Python cannot compile {p['pattern']!r}: {e}\")",
    'for c in data["checks"]:',
    '    try:',
    '        if not re.match(c["pattern"], c["value"]): out.append(f"{c[\'path\']}: {c[\'value\']!r} does not match {c[\'pattern\']!r}")',
    '    except re.error: pass',
    'print(json.dumps(out))',
  ].join('\n');
  const text = execFileSync('python3', ['-c', script], { input: JSON.stringify({ patterns, checks }) });
  return JSON.parse(text.toString('utf8')) as string[];
}

describe('packaging: config.yaml for the Supervisor and the add-on linter', () => {
  it('has only keys the Supervisor reads, repeats none of its defaults, and no watchdog', () => {
    expect(configKeyProblems(config)).toEqual([]);
    expect(config).toMatchObject({ slug: 'tts_hub', arch: ['aarch64', 'amd64'], ingress: true });
  });

  it('reports a repeated default, an unknown key and watchdog by name (the check can fail)', () => {
    const broken = {
      ...config,
      boot: 'auto',
      ingress_port: 8099,
      watchdg: true,
      watchdog: 'tcp://[HOST]:[PORT:1]',
    };
    expect(configKeyProblems(broken)).toEqual(
      expect.arrayContaining([
        "config.yaml: 'boot: \"auto\"' repeats the Supervisor's default; remove it",
        "config.yaml: 'ingress_port: 8099' repeats the Supervisor's default; remove it",
        "config.yaml: 'watchdg' is not a key the Supervisor reads (it drops it)",
        "config.yaml: 'watchdog' is obsolete; use a Docker HEALTHCHECK in the Dockerfile",
      ]),
    );
  });

  it('nests options two levels at most and uses only types the Supervisor knows', () => {
    expect(schemaShapeProblems(schema)).toEqual([]);
  });

  it('names an option nested too deep, as recorder.microphones[] was', () => {
    const old = { ...schema, recorder: { enabled: 'bool', microphones: [{ name: 'str', url: 'str' }] } };
    expect(schemaShapeProblems(old)).toEqual([
      'schema recorder.microphones: nested too deep: inside recorder only types and lists of types are allowed (Supervisors before 2025.09.1 refuse the add-on; move it to the top level)',
    ]);
    expect(schemaShapeProblems({ a: 'strr', b: [['str']] })).toEqual([
      "schema a: 'strr' is not a type the Supervisor knows",
      'schema b[]: a list of lists',
    ]);
  });

  it('has defaults that pass the schema as the Supervisor checks them, match() patterns in Python', () => {
    const checks: MatchCheck[] = [];
    expect(optionValueProblems(options, schema, checks)).toEqual([]);
    expect(pythonRegexProblems(matchPatterns(schema), checks)).toEqual([]);
    const bad = optionValueProblems(
      { ...options, max_text_chars: 0, log_level: 'loud' },
      { ...schema, extra: 'str' },
    );
    expect(bad).toEqual([
      'options.log_level: "loud" is not one of the list (type list(trace|debug|info|warn|error|fatal|silent))',
      'options.max_text_chars: 0 is out of range (type int(1,100000))',
      'options.extra: required by the schema but has no default (the add-on would not start)',
    ]);
  });
});

describe('packaging: translations and ports', () => {
  it('translates every option and only options, and describes exactly the published ports (lower-case keys)', () => {
    const translations = readYaml('translations/en.yaml') as {
      configuration?: Record<string, TranslationEntry>;
      network?: Record<string, unknown>;
    };
    expect(translationProblems(translations, schema, ports)).toEqual([]);
    const upper = { ...translations, network: { '8099/TCP': 'x', '10210/tcp': 'y' } };
    expect(translationProblems(upper, schema, ports)).toEqual([
      "translations/en.yaml: network key '8099/TCP' is not a config.yaml ports key (8099/tcp, 10210/tcp)",
      "translations/en.yaml: port '8099/tcp' has no network description",
    ]);
  });

  it('publishes the container ports the hub listens on in the add-on; their options stay off the add-on page', () => {
    expect(Object.keys(ports).sort()).toEqual(
      [portKey(ADDON_PORTS.http), portKey(ADDON_PORTS.wyoming)].sort(),
    );
    expect(config.ingress_port ?? 8099, 'ingress goes to the HTTP container port').toBe(ADDON_PORTS.http);
    expect(Object.keys(config.ports_description as object).sort()).toEqual(Object.keys(ports).sort());
    expect((schema.http as Record<string, unknown>).port, 'http.port is fixed in the add-on').toBeUndefined();
    expect((schema.wyoming_server as Record<string, unknown>).port).toBeUndefined();
    const health = readFileSync(join(REPO_DIR, 'addon/healthcheck.mjs'), 'utf8');
    expect(health, 'the HEALTHCHECK probes the HTTP container port').toContain(
      `http://127.0.0.1:${ADDON_PORTS.http}/api/health`,
    );
    const docs = readFileSync(join(REPO_DIR, 'DOCS.md'), 'utf8');
    for (const port of Object.keys(ports)) {
      expect(
        docs.includes(`\`${port}\``),
        `DOCS.md explains port \`${port}\` (add-on Network settings)`,
      ).toBe(true);
    }
  });
});

describe('packaging: the repository as the add-on store reads it', () => {
  it('has repository.yaml with a name, and config.yaml is the only add-on configuration in the repository', () => {
    const repository = readYaml('repository.yaml');
    expect(typeof repository.name, 'repository.yaml needs a name').toBe('string');
    // The store takes every config.{json,yaml,yml} outside dot folders and rootfs/ as an add-on.
    const tracked = execFileSync('git', ['ls-files'], { cwd: REPO_DIR }).toString('utf8').split('\n');
    const configs = tracked.filter(
      (f) =>
        /(^|\/)config\.(json|ya?ml)$/.test(f) &&
        !f.split('/').some((p) => p.startsWith('.') || p === 'rootfs'),
    );
    expect(configs, 'files the store would load as add-ons').toEqual(['config.yaml']);
  });

  it('has a square PNG icon (128x128) and a PNG logo about 250x100', () => {
    const size = (file: string): [number, number] => {
      const head = readFileSync(join(REPO_DIR, file)).subarray(0, 24);
      expect(head.subarray(1, 4).toString('latin1'), `${file} is a PNG`).toBe('PNG');
      return [head.readUInt32BE(16), head.readUInt32BE(20)];
    };
    expect(size('icon.png')).toEqual([128, 128]);
    expect(size('logo.png')).toEqual([250, 100]);
  });

  it("shows in DOCS.md's install section the panel screenshot that the browser test takes", () => {
    const docs = readFileSync(join(REPO_DIR, 'DOCS.md'), 'utf8');
    const install = docs.slice(docs.indexOf('## Installation'), docs.indexOf('## Configuration'));
    const words = install.replace(/\s+/g, ' ');
    const image = /!\[[^\]]+\]\(([^)]+\.png)\)/.exec(install)?.[1];
    expect(image, 'DOCS.md ## Installation shows the panel').toBe('docs/panel.png');
    const panelTest = readFileSync(join(REPO_DIR, 'test/integration/panel.test.ts'), 'utf8');
    expect(panelTest).toContain("join(REPO_DIR, 'docs', 'panel.png')");
    const png = readFileSync(join(REPO_DIR, image as string));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16), 'screenshot width').toBeGreaterThanOrEqual(800);
    for (const step of [
      'Repositories',
      'Install',
      'Show in sidebar',
      'action: mqtt.publish',
      'topic: tts/say',
    ]) {
      expect(words.includes(step), `DOCS.md ## Installation mentions ${step}`).toBe(true);
    }
  });
});
