/**
 * Generates the add-on manifest (`config.yaml`: fixed keys plus `options`/`schema` from the zod schema) and
 * `translations/en.yaml` (from src/config/option-docs.yaml). Run `npm run manifest` after changing an option;
 * test/unit/manifest.test.ts fails while either file is stale.
 *
 * Schema syntax (home-assistant/developers.home-assistant `docs/add-ons/configuration.md`, checked against
 * home-assistant/supervisor `supervisor/addons/options.py`): `str`, `bool`, `int(min,max)`, `float(min,max)`,
 * `url`, `password`, `match(REGEX)`, `list(a|b)`, a trailing `?` for optional; bounds are non-negative decimals
 * only; nested dicts and lists of dicts; every key without `?` must be present in `options`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import type { z } from 'zod';
import { version } from '../version.js';
import { ADDON_FIXED_OPTIONS, ADDON_PORTS, portKey } from './addon-ports.js';
import { OptionsSchema } from './schema.js';

/** A node of the Supervisor's schema: a type string, a dict, or a one-element list. */
export type AddonSchemaNode = string | AddonSchemaNode[] | { [key: string]: AddonSchemaNode };

/** name/description of one option; `fields` for the options nested in it (translations/en.yaml shape). */
export interface OptionDoc {
  name: string;
  description: string;
  fields?: Record<string, OptionDoc>;
}

/** Options whose Supervisor type says more than their zod type (dotted paths; list items have no index). */
const TYPE_OVERRIDES: Readonly<Record<string, string>> = {
  'mqtt.password': 'password',
  'http.api_token': 'password',
  'engines.url': 'url',
  'engines.urls': 'url',
};

/** The repository's root (the folder of config.yaml), from src/config or dist/config. */
export const REPO_DIR: string = fileURLToPath(new URL('../../', import.meta.url));

/** The Supervisor's default ingress port (home-assistant/supervisor `supervisor/apps/validate.py`). */
const SUPERVISOR_DEFAULT_INGRESS_PORT = 8099;

/**
 * The add-on's fixed manifest keys (DESIGN "Home Assistant"), in the order they are written. Keys whose value is the
 * Supervisor's default are left out (the add-on linter refuses them), so `startup: application`, `boot: auto`,
 * `init: true` and `ingress_port: 8099` hold without being written. Health is the image's Docker HEALTHCHECK, not the
 * obsolete `watchdog`. Grants: `hassio_api` (default role) for `GET /network/info`, `homeassistant_api` for
 * `/core/api` (media players, assist satellites); test/unit/packaging-access.test.ts checks them against the code.
 */
function fixedManifest(version: string): Record<string, unknown> {
  const http = portKey(ADDON_PORTS.http);
  const wyoming = portKey(ADDON_PORTS.wyoming);
  return {
    name: 'TTS Hub',
    version,
    slug: 'tts_hub',
    description:
      'Text to speech over MQTT with local engines (espeak-ng, Piper, XTTS, pocket-tts), an Opus cache, and live recording from satellites',
    arch: ['aarch64', 'amd64'],
    services: ['mqtt:need'],
    map: ['share:rw'],
    hassio_api: true,
    homeassistant_api: true,
    ingress: true,
    ...(ADDON_PORTS.http === SUPERVISOR_DEFAULT_INGRESS_PORT ? {} : { ingress_port: ADDON_PORTS.http }),
    panel_icon: 'mdi:account-voice',
    panel_title: 'TTS Hub',
    ports: { [http]: ADDON_PORTS.http, [wyoming]: ADDON_PORTS.wyoming },
    ports_description: {
      [http]: 'HTTP: audio for speakers, the API and the OpenAI-style endpoint',
      [wyoming]: 'Wyoming TTS server (when enabled)',
    },
    timeout: 20,
  };
}

/** Port descriptions of translations/en.yaml `network:`, keyed exactly as config.yaml `ports` (lower-case `/tcp`). */
const NETWORK_DOCS: Readonly<Record<string, string>> = {
  [portKey(ADDON_PORTS.http)]:
    'HTTP port for speakers fetching audio, the API and OpenAI-style clients (the panel uses ingress).',
  [portKey(ADDON_PORTS.wyoming)]: 'Wyoming TTS server for Home Assistant (enable wyoming_server first).',
};

/** The zod internals read here (zod 4 exposes `type` and `def` on every schema). */
interface Introspected {
  type: string;
  def: {
    innerType?: Introspected;
    element?: Introspected;
    shape?: Record<string, Introspected>;
    entries?: Record<string, string>;
    defaultValue?: unknown;
    checks?: Array<{ _zod: { def: { format?: string; pattern?: RegExp } } }>;
  };
  minValue?: number | null;
  maxValue?: number | null;
  isInt?: boolean;
  minLength?: number | null;
  maxLength?: number | null;
}

/** Peels default/prefault/optional wrappers off a schema. */
function unwrap(schema: Introspected): { inner: Introspected; optional: boolean; defaultValue?: unknown } {
  let inner = schema;
  let optional = false;
  let defaultValue: unknown;
  while (['default', 'prefault', 'optional', 'nullable'].includes(inner.type) && inner.def.innerType) {
    if (inner.type === 'optional') optional = true;
    if (inner.type === 'default') defaultValue = inner.def.defaultValue;
    inner = inner.def.innerType;
  }
  return { inner, optional, defaultValue };
}

/** `name(min,max)` with only the bounds the Supervisor can read (non-negative). */
function ranged(name: string, min: number | null | undefined, max: number | null | undefined): string {
  // zod's int() carries ±MAX_SAFE_INTEGER bounds of its own: no bound the user set, so none is written.
  const usable = (n: number | null | undefined): n is number =>
    typeof n === 'number' && n >= 0 && n < Number.MAX_SAFE_INTEGER;
  const lo = usable(min) ? String(min) : '';
  const hi = usable(max) ? String(max) : '';
  return lo || hi ? `${name}(${lo},${hi})` : name;
}

function scalarType(s: Introspected, path: string): string {
  const override = TYPE_OVERRIDES[path];
  if (override) return override;
  switch (s.type) {
    case 'boolean':
      return 'bool';
    case 'number':
      return ranged(s.isInt ? 'int' : 'float', s.minValue, s.maxValue);
    case 'enum':
      return `list(${Object.values(s.def.entries ?? {}).join('|')})`;
    case 'string': {
      const regex = s.def.checks?.map((c) => c._zod.def).find((d) => d.format === 'regex')?.pattern;
      return regex ? `match(${regex.source})` : ranged('str', s.minLength || null, s.maxLength);
    }
    default:
      throw new Error(`option ${path}: no add-on schema type for zod type '${s.type}'`);
  }
}

/**
 * The Supervisor schema of one option. A scalar is optional (`?`) when zod's is optional, when its default is
 * an empty string (the form must not demand it), or inside a list item when zod fills a default.
 */
function schemaNode(schema: Introspected, path: string, inListItem: boolean): AddonSchemaNode {
  const { inner, optional, defaultValue } = unwrap(schema);
  if (inner.type === 'object') return schemaDict(inner, path, false);
  if (inner.type === 'array') {
    const element = unwrap(inner.def.element as Introspected).inner;
    if (element.type === 'object') return [schemaDict(element, path, true)];
    const item = scalarType(element, path);
    return [optional ? `${item}?` : item];
  }
  const type = scalarType(inner, path);
  const loose = optional || defaultValue === '' || (inListItem && defaultValue !== undefined);
  return loose ? `${type}?` : type;
}

function schemaDict(
  schema: Introspected,
  path: string,
  inListItem: boolean,
): Record<string, AddonSchemaNode> {
  const out: Record<string, AddonSchemaNode> = {};
  for (const [key, field] of Object.entries(schema.def.shape ?? {})) {
    const fieldPath = path ? `${path}.${key}` : key;
    if (ADDON_FIXED_OPTIONS.includes(fieldPath)) continue;
    out[key] = schemaNode(field, fieldPath, inListItem);
  }
  return out;
}

/** config.yaml `schema` for the options schema. @throws Error for a zod type with no Supervisor equivalent. */
export function addonSchema(schema: z.ZodType = OptionsSchema): Record<string, AddonSchemaNode> {
  return schemaDict(unwrap(schema as unknown as Introspected).inner, '', false);
}

/**
 * config.yaml `options`: every default (`OptionsSchema.parse({})`), optional unset options and the options the
 * manifest fixes (`ADDON_FIXED_OPTIONS`) left out.
 */
export function addonOptions(): Record<string, unknown> {
  const options = JSON.parse(JSON.stringify(OptionsSchema.parse({}))) as Record<string, unknown>;
  for (const path of ADDON_FIXED_OPTIONS) {
    const keys = path.split('.');
    let node: Record<string, unknown> | undefined = options;
    for (const key of keys.slice(0, -1)) node = node?.[key] as Record<string, unknown> | undefined;
    if (node) delete node[keys[keys.length - 1] as string];
  }
  return options;
}

/** Dotted paths of every option and nested option (list items' fields as `list.field`), in schema order. */
export function optionPaths(node: Record<string, AddonSchemaNode> = addonSchema(), prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    paths.push(path);
    const nested = Array.isArray(value) ? value[0] : value;
    if (nested && typeof nested === 'object' && !Array.isArray(nested))
      paths.push(...optionPaths(nested, path));
  }
  return paths;
}

/** Reads src/config/option-docs.yaml. */
export function loadOptionDocs(file = `${REPO_DIR}src/config/option-docs.yaml`): Record<string, OptionDoc> {
  return parse(readFileSync(file, 'utf8')) as Record<string, OptionDoc>;
}

/**
 * The `configuration:` translations in schema order, each with `name`, `description` and `fields` for nested
 * options. @throws Error listing every option without a name or description in `docs`.
 */
export function configurationTranslations(
  docs: Record<string, OptionDoc> = loadOptionDocs(),
  node: Record<string, AddonSchemaNode> = addonSchema(),
  missing: string[] = [],
  prefix = '',
): Record<string, OptionDoc> {
  const out: Record<string, OptionDoc> = {};
  for (const [key, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const doc = docs[key];
    if (!doc?.name || !doc.description) missing.push(path);
    const entry: OptionDoc = { name: doc?.name ?? '', description: doc?.description ?? '' };
    const nested = Array.isArray(value) ? value[0] : value;
    if (nested && typeof nested === 'object' && !Array.isArray(nested)) {
      entry.fields = configurationTranslations(doc?.fields ?? {}, nested, missing, path);
    }
    out[key] = entry;
  }
  if (!prefix && missing.length) {
    throw new Error(
      `options without a name and description in src/config/option-docs.yaml: ${missing.join(', ')}`,
    );
  }
  return out;
}

const HEADER =
  '# Generated by `npm run manifest` from src/config/schema.ts and src/config/option-docs.yaml; do not edit.\n';

/** The text of config.yaml for `version` (package.json's). */
export function renderConfigYaml(version: string): string {
  const manifest = { ...fixedManifest(version), options: addonOptions(), schema: addonSchema() };
  return HEADER + stringify(manifest, { lineWidth: 0 });
}

/** The text of translations/en.yaml. @throws Error when an option has no docs. */
export function renderTranslations(docs?: Record<string, OptionDoc>): string {
  return (
    HEADER +
    stringify({ configuration: configurationTranslations(docs), network: NETWORK_DOCS }, { lineWidth: 0 })
  );
}

/** Writes config.yaml and translations/en.yaml beside package.json. */
export function writeManifest(): void {
  writeFileSync(`${REPO_DIR}config.yaml`, renderConfigYaml(version));
  writeFileSync(`${REPO_DIR}translations/en.yaml`, renderTranslations());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeManifest();
  console.log('wrote config.yaml and translations/en.yaml');
}
