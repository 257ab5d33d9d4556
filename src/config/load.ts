import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { groupProblems } from '../playback/groups.js';
import { presetProblems } from '../playback/presets.js';
import { targetProblems } from '../playback/targets.js';
import { AppError } from '../shared/errors.js';
import { instanceProblems } from '../tts/engines/index.js';
import { ADDON_PORTS } from './addon-ports.js';
import { type Options, OptionsSchema } from './schema.js';

/** Where the Supervisor writes the add-on's options. */
export const ADDON_OPTIONS_PATH = '/data/options.json';

/** Environment variables that override options (DESIGN "Running"). */
const ENV_OVERRIDES: Array<[string, (raw: Record<string, unknown>, value: string) => void]> = [
  ['TTS_HUB_MQTT_URL', (raw, v) => setPath(raw, ['mqtt', 'url'], v)],
  ['TTS_HUB_SHARE_DIR', (raw, v) => setPath(raw, ['share_dir'], v)],
  ['TTS_HUB_HTTP_PORT', (raw, v) => setPath(raw, ['http', 'port'], Number(v))],
  ['TTS_HUB_LOG_LEVEL', (raw, v) => setPath(raw, ['log_level'], v)],
  ['TTS_HUB_EXTERNAL_URL', (raw, v) => setPath(raw, ['http', 'external_url'], v)],
  ['TTS_HUB_API_TOKEN', (raw, v) => setPath(raw, ['http', 'api_token'], v)],
];

function setPath(raw: Record<string, unknown>, path: string[], value: unknown): void {
  let node = raw;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** The loaded configuration plus facts about where it came from. */
export interface LoadedConfig {
  options: Options;
  /** The file the options came from, or undefined for defaults only. */
  source: string | undefined;
  /** True inside the add-on (Supervisor token present or /data/options.json used). */
  inAddon: boolean;
  /** Base URL of the Supervisor API (`TTS_HUB_SUPERVISOR_URL`, default http://supervisor). */
  supervisorUrl: string;
  /** Bearer token for the Supervisor (`SUPERVISOR_TOKEN`), if any. */
  supervisorToken: string | undefined;
  /**
   * This hub's own persistent state (journals, secrets): `/data` in the add-on (the Supervisor keeps it per
   * add-on), else `TTS_HUB_DATA_DIR`, else `<share_dir>/.data/<mqtt.client_id>`, so hubs sharing one share
   * volume never share it. Created by whoever first writes to it.
   */
  dataDir: string;
}

/** Formats zod issues as `path: message` lines, one per problem. */
export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Options that moved (CHANGELOG.md): `from` path, `to` path. zod drops unknown keys, so without this check an
 * old configuration would silently lose them. */
const MOVED_OPTIONS: ReadonlyArray<{ from: readonly string[]; to: string }> = [
  { from: ['recorder', 'microphones'], to: 'microphones' },
];

/** `path: message` lines for options still at a place they moved away from. */
function movedOptionProblems(raw: unknown): string[] {
  const problems: string[] = [];
  for (const { from, to } of MOVED_OPTIONS) {
    let node: unknown = raw;
    for (const key of from) {
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    }
    if (node !== undefined) {
      problems.push(`${from.join('.')}: moved to the top-level option '${to}' (same fields); move it there`);
    }
  }
  return problems;
}

/**
 * Refuses options still at a place they moved away from, validates raw options against the schema, then what the
 * schema cannot express: unique engine names, a known `default_engine`, engine instances (`instanceProblems`:
 * `urls` only on network engines, one weight per instance), each target's required and well-formed fields
 * (`targetProblems`) and preset engine, and groups whose members are all known targets or addresses
 * (`groupProblems`).
 * @throws AppError CONFIG_INVALID whose message lists every problem as `path: message`, one per line.
 */
export function parseOptions(raw: unknown): Options {
  const moved = movedOptionProblems(raw);
  if (moved.length) throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${moved.join('\n  ')}`);
  const result = OptionsSchema.safeParse(raw);
  if (!result.success) {
    throw new AppError(
      'CONFIG_INVALID',
      `invalid configuration:\n  ${formatIssues(result.error.issues).join('\n  ')}`,
    );
  }
  const options = result.data;
  const names = new Set<string>();
  const problems: string[] = [];
  for (const engine of options.engines) {
    if (names.has(engine.name)) problems.push(`engines: duplicate engine name '${engine.name}'`);
    names.add(engine.name);
  }
  if (options.default_engine && !names.has(options.default_engine)) {
    problems.push(
      `default_engine: '${options.default_engine}' is not in engines[] (${[...names].join(', ')})`,
    );
  }
  problems.push(...instanceProblems(options.engines));
  problems.push(...targetProblems(options.targets));
  problems.push(...presetProblems(options.targets, names));
  problems.push(...groupProblems(options.groups, options.targets));
  if (options.mqtt.share_group && !/^[A-Za-z0-9_-]{1,64}$/.test(options.mqtt.client_id)) {
    problems.push(
      `mqtt.client_id: '${options.mqtt.client_id}' cannot name a hub of share group '${options.mqtt.share_group}'; use 1-64 letters, digits, '_' or '-', different on every hub`,
    );
  }
  if (problems.length)
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  return options;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `cannot read config file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new AppError(
      'CONFIG_INVALID',
      `config file ${path} is not valid JSON/YAML: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Returns the value of `--config FILE` / `--config=FILE` in argv, if given. */
export function configArg(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--config') return argv[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return undefined;
}

/**
 * Loads options: `--config FILE` (JSON or YAML) if given, else /data/options.json when present (the add-on),
 * else defaults; then the TTS_HUB_* environment overrides; then validation.
 * Empty `share_dir` becomes /share/tts_hub in the add-on and ./share elsewhere. With the add-on's options file the
 * listening ports are the manifest's container ports (`ADDON_PORTS`), whatever `http.port`, `wyoming_server.port`
 * or TTS_HUB_HTTP_PORT say: ingress and the port mappings point there.
 * `addonOptionsPath` is the add-on's options file (tests pass their own).
 * @throws AppError CONFIG_INVALID listing every problem.
 */
export function loadConfig(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  addonOptionsPath: string = ADDON_OPTIONS_PATH,
): LoadedConfig {
  const explicit = configArg(argv);
  let source: string | undefined;
  if (explicit) source = resolve(explicit);
  else if (existsSync(addonOptionsPath)) source = addonOptionsPath;
  const rawValue = source ? readConfigFile(source) : {};
  if (typeof rawValue !== 'object' || rawValue === null || Array.isArray(rawValue)) {
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  (root): expected an object in ${source}`);
  }
  const raw = structuredClone(rawValue) as Record<string, unknown>;
  for (const [name, apply] of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(raw, value);
  }
  const options = parseOptions(raw);
  if (source === addonOptionsPath) {
    options.http.port = ADDON_PORTS.http;
    options.wyoming_server.port = ADDON_PORTS.wyoming;
  }
  const supervisorToken = env.SUPERVISOR_TOKEN || undefined;
  const inAddon = supervisorToken !== undefined || source === addonOptionsPath;
  if (!options.share_dir) options.share_dir = inAddon ? '/share/tts_hub' : resolve('share');
  const dataDir = inAddon
    ? '/data'
    : resolve(env.TTS_HUB_DATA_DIR || join(options.share_dir, '.data', options.mqtt.client_id));
  return {
    dataDir,
    options,
    source,
    inAddon,
    supervisorUrl: (env.TTS_HUB_SUPERVISOR_URL || 'http://supervisor').replace(/\/+$/, ''),
    supervisorToken,
  };
}
