/**
 * The rules Home Assistant's Supervisor applies to an add-on's config.yaml, its options schema and its
 * translations, restated in our words so the packaging tests can name exactly what is wrong. Sources
 * (home-assistant/supervisor, 2026-08, and the two-level rule from before 2025.09.1):
 * - `supervisor/apps/validate.py` (`_SCHEMA_APP_CONFIG`: the keys, their types and defaults; `SCHEMA_ELEMENT`;
 *   `SCHEMA_TRANSLATION_CONFIGURATION`, `SCHEMA_APP_TRANSLATIONS`). Supervisors before 2025.09.1 (commit ac9947d)
 *   accept options nested two levels at most, as developers.home-assistant `docs/apps/configuration.md` still says:
 *   a top-level option is a type, a list of types, a dict of (types | lists of types), or a list of such dicts.
 * - `supervisor/apps/options.py` (`RE_SCHEMA_ELEMENT`, how `options` values are checked against `schema`, and
 *   which missing keys are optional).
 * - frenck/action-addon-linter `src/lint.py`: a key must not repeat the Supervisor's default; `watchdog` is
 *   obsolete (a Docker HEALTHCHECK replaces it); no `webui` with ingress.
 */

/** A schema node: a type string, a one-element list, or a dict. */
export type SchemaNode = string | SchemaNode[] | { [key: string]: SchemaNode };

/** The type strings the Supervisor knows, with a trailing `?` for optional. */
const TYPE =
  /^(?:bool|email|url|port|device(?:\(subsystem=[a-z]+\))?|str(?:\((\d+)?,(\d+)?\))?|password(?:\((\d+)?,(\d+)?\))?|int(?:\((\d+)?,(\d+)?\))?|float(?:\(([\d.]+)?,([\d.]+)?\))?|match\((.*)\)|list\((.+)\))\??$/;

/** config.yaml keys the Supervisor reads, with its default where it has one (a key set to it repeats it). */
export const SUPERVISOR_CONFIG_KEYS: Readonly<Record<string, { default?: unknown }>> = Object.fromEntries(
  [
    ...['name', 'version', 'slug', 'description', 'arch', 'machine', 'url', 'ports', 'ports_description'],
    ...['watchdog', 'webui', 'ingress_entry', 'panel_title', 'homeassistant', 'devices', 'environment'],
    ...['privileged', 'services', 'discovery', 'backup_exclude', 'backup_pre', 'backup_post', 'restore_pre'],
    ...['restore_post', 'image', 'breaking_versions'],
  ]
    .map((k): [string, { default?: unknown }] => [k, {}])
    .concat(
      Object.entries({
        startup: 'application',
        boot: 'auto',
        init: true,
        advanced: false,
        stage: 'stable',
        ingress: false,
        ingress_port: 8099,
        ingress_stream: false,
        panel_icon: 'mdi:puzzle',
        panel_admin: true,
        host_network: false,
        host_pid: false,
        host_ipc: false,
        host_uts: false,
        host_dbus: false,
        udev: false,
        tmpfs: false,
        map: [],
        apparmor: true,
        full_access: false,
        audio: false,
        video: false,
        gpio: false,
        usb: false,
        uart: false,
        devicetree: false,
        kernel_modules: false,
        realtime: false,
        hassio_api: false,
        hassio_role: 'default',
        homeassistant_api: false,
        stdin: false,
        legacy: false,
        docker_api: false,
        auth_api: false,
        backup: 'hot',
        options: {},
        schema: {},
        ulimits: {},
        timeout: 10,
        journald: false,
      }).map(([k, v]): [string, { default?: unknown }] => [k, { default: v }]),
    ),
);

/** Problems of config.yaml's top-level keys: unknown keys, repeated defaults, obsolete keys, bad values. */
export function configKeyProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of ['name', 'version', 'slug', 'description', 'arch']) {
    if (config[key] === undefined) problems.push(`config.yaml: '${key}' is required`);
  }
  for (const [key, value] of Object.entries(config)) {
    const known = SUPERVISOR_CONFIG_KEYS[key];
    if (!known) problems.push(`config.yaml: '${key}' is not a key the Supervisor reads (it drops it)`);
    else if ('default' in known && JSON.stringify(value) === JSON.stringify(known.default)) {
      problems.push(
        `config.yaml: '${key}: ${JSON.stringify(value)}' repeats the Supervisor's default; remove it`,
      );
    }
  }
  if (config.watchdog !== undefined) {
    problems.push("config.yaml: 'watchdog' is obsolete; use a Docker HEALTHCHECK in the Dockerfile");
  }
  if (config.ingress === true && config.webui !== undefined) {
    problems.push("config.yaml: 'webui' must go when ingress is enabled");
  }
  if (typeof config.slug !== 'string' || !/^[-_.A-Za-z0-9]+$/.test(config.slug)) {
    problems.push(`config.yaml: slug ${JSON.stringify(config.slug)} is not [-_.A-Za-z0-9]+`);
  }
  for (const arch of (config.arch as unknown[] | undefined) ?? []) {
    if (arch !== 'aarch64' && arch !== 'amd64') problems.push(`config.yaml: arch '${arch}' is not supported`);
  }
  for (const service of (config.services as unknown[] | undefined) ?? []) {
    if (!/^(?:mqtt|mysql):(?:provide|want|need)$/.test(String(service))) {
      problems.push(`config.yaml: service '${service}' is not <mqtt|mysql>:<provide|want|need>`);
    }
  }
  for (const volume of (config.map as unknown[] | undefined) ?? []) {
    const re =
      /^(?:data|config|ssl|addons|backup|share|media|homeassistant_config|all_addon_configs|addon_config)(?::(?:rw|ro))?$/;
    if (typeof volume === 'string' && !re.test(volume))
      problems.push(`config.yaml: map entry '${volume}' is unknown`);
  }
  const timeout = config.timeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || timeout < 10 || timeout > 300)) {
    problems.push(`config.yaml: timeout ${timeout} is outside 10-300 s`);
  }
  for (const field of ['ports', 'ports_description']) {
    for (const port of Object.keys((config[field] as Record<string, unknown> | undefined) ?? {})) {
      if (!/^\d+(?:\/tcp|\/udp)?$/.test(port))
        problems.push(`config.yaml: ${field} key '${port}' is not <port>/tcp`);
    }
  }
  return problems;
}

/** Whether `node` is a type string the Supervisor knows. */
export function isSchemaType(node: SchemaNode): node is string {
  return typeof node === 'string' && TYPE.test(node);
}

/**
 * Problems of an options schema under the two-level rule: each top-level option is a type, a list of types, a
 * dict of (types | lists of types), or a list of such dicts; every type string must be one the Supervisor knows.
 */
export function schemaShapeProblems(schema: Record<string, SchemaNode>): string[] {
  const problems: string[] = [];
  const leaf = (node: SchemaNode, path: string): boolean => {
    if (typeof node === 'string') {
      if (!isSchemaType(node)) problems.push(`schema ${path}: '${node}' is not a type the Supervisor knows`);
      return true;
    }
    if (Array.isArray(node) && typeof node[0] === 'string' && node.length === 1)
      return leaf(node[0], `${path}[]`);
    return false;
  };
  const flatDict = (node: SchemaNode, path: string): boolean => {
    if (typeof node !== 'object' || Array.isArray(node)) return false;
    for (const [key, value] of Object.entries(node)) {
      if (!leaf(value, `${path}.${key}`)) {
        problems.push(
          `schema ${path}.${key}: nested too deep: inside ${path} only types and lists of types are allowed (Supervisors before 2025.09.1 refuse the add-on; move it to the top level)`,
        );
      }
    }
    return true;
  };
  for (const [key, node] of Object.entries(schema)) {
    if (leaf(node, key)) continue;
    if (Array.isArray(node)) {
      if (node.length !== 1) problems.push(`schema ${key}: a list holds exactly one element type`);
      else if (!flatDict(node[0] as SchemaNode, `${key}[]`))
        problems.push(`schema ${key}[]: a list of lists`);
      continue;
    }
    flatDict(node, key);
  }
  return problems;
}

/** A `match(...)` check for the caller to run with Python's `re.match` (the Supervisor's regex engine). */
export interface MatchCheck {
  path: string;
  pattern: string;
  value: string;
}

/**
 * Problems of `options` (the defaults) against `schema` as the Supervisor checks them when it writes
 * /data/options.json: unknown keys, wrong types, values out of range, required keys missing (a key whose type
 * has no `?`, for lists the element type's). `match(...)` values are collected in `matches` for Python.
 */
export function optionValueProblems(
  options: Record<string, unknown>,
  schema: Record<string, SchemaNode>,
  matches: MatchCheck[] = [],
  path = 'options',
): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    const type = schema[key];
    if (type === undefined) problems.push(`${path}.${key}: not in the schema (the Supervisor drops it)`);
    else problems.push(...valueProblems(value, type, `${path}.${key}`, matches));
  }
  for (const [key, type] of Object.entries(schema)) {
    if (key in options) continue;
    const decisive = Array.isArray(type) ? type[0] : type;
    if (!(typeof decisive === 'string' && decisive.endsWith('?'))) {
      problems.push(`${path}.${key}: required by the schema but has no default (the add-on would not start)`);
    }
  }
  return problems;
}

function valueProblems(value: unknown, type: SchemaNode, path: string, matches: MatchCheck[]): string[] {
  if (Array.isArray(type)) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((v, i) => valueProblems(v, type[0] as SchemaNode, `${path}[${i}]`, matches));
  }
  if (typeof type === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return [`${path}: expected a dict`];
    return optionValueProblems(value as Record<string, unknown>, type, matches, path);
  }
  return scalarProblems(value, type, path, matches);
}

function scalarProblems(value: unknown, type: string, path: string, matches: MatchCheck[]): string[] {
  const m = TYPE.exec(type);
  if (!m) return [`${path}: unknown type '${type}'`];
  if (value === null || value === undefined) return [`${path}: a value is required`];
  const bounds = (lo?: string, hi?: string) => ({
    lo: lo ? Number(lo) : undefined,
    hi: hi ? Number(hi) : undefined,
  });
  const outside = (n: number, b: { lo?: number; hi?: number }) =>
    (b.lo !== undefined && n < b.lo) || (b.hi !== undefined && n > b.hi);
  const bad = (why: string) => [`${path}: ${JSON.stringify(value)} ${why} (type ${type})`];
  if (type.startsWith('str') || type.startsWith('password')) {
    const b = bounds(m[1] ?? m[3], m[2] ?? m[4]);
    if (typeof value !== 'string') return bad('is not a string');
    return outside(value.length, b) ? bad('has a length outside the bounds') : [];
  }
  if (type.startsWith('int')) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return bad('is not an integer');
    return outside(value, bounds(m[5], m[6])) ? bad('is out of range') : [];
  }
  if (type.startsWith('float')) {
    if (typeof value !== 'number') return bad('is not a number');
    return outside(value, bounds(m[7], m[8])) ? bad('is out of range') : [];
  }
  if (type.startsWith('bool')) return typeof value === 'boolean' ? [] : bad('is not a boolean');
  if (type.startsWith('port')) {
    return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
      ? []
      : bad('is not a port');
  }
  if (type.startsWith('url')) {
    try {
      const url = new URL(String(value));
      return url.protocol && url.host ? [] : bad('is not a URL');
    } catch {
      return bad('is not a URL');
    }
  }
  if (type.startsWith('email')) return /^[^@\s]+@[^@\s]+$/.test(String(value)) ? [] : bad('is not an e-mail');
  if (type.startsWith('match')) {
    matches.push({ path, pattern: m[9] as string, value: String(value) });
    return [];
  }
  if (type.startsWith('list')) {
    return (m[10] as string).split('|').includes(String(value)) ? [] : bad('is not one of the list');
  }
  return [];
}

/** Every `match(...)` pattern of a schema with its path, for compiling with Python. */
export function matchPatterns(node: SchemaNode, path = 'schema'): Array<{ path: string; pattern: string }> {
  if (typeof node === 'string') {
    const m = /^match\((.*)\)\??$/.exec(node);
    return m ? [{ path, pattern: m[1] as string }] : [];
  }
  if (Array.isArray(node)) return matchPatterns(node[0] as SchemaNode, `${path}[]`);
  return Object.entries(node).flatMap(([k, v]) => matchPatterns(v, `${path}.${k}`));
}

/** A translations file's `configuration` entry (`SCHEMA_TRANSLATION_CONFIGURATION`). */
export interface TranslationEntry {
  name?: unknown;
  description?: unknown;
  fields?: Record<string, TranslationEntry>;
}

/**
 * Problems of a translations file against the schema and the ports, both ways: each entry has a string `name` and
 * a string (or null) `description`; each translated option exists in the schema (nested ones under `fields`) and
 * each option is translated; `network` keys are exactly config.yaml's `ports` keys (the frontend looks them up as
 * written there, case-sensitively).
 */
export function translationProblems(
  translations: { configuration?: Record<string, TranslationEntry>; network?: Record<string, unknown> },
  schema: Record<string, SchemaNode>,
  ports: Record<string, unknown>,
  file = 'translations/en.yaml',
): string[] {
  const problems: string[] = [];
  const walk = (
    entries: Record<string, TranslationEntry>,
    node: Record<string, SchemaNode>,
    path: string,
  ) => {
    for (const [key, entry] of Object.entries(entries)) {
      const where = path ? `${path}.${key}` : key;
      if (!(key in node))
        problems.push(`${file}: configuration ${where} is not an option in config.yaml's schema`);
      if (typeof entry?.name !== 'string' || !entry.name)
        problems.push(`${file}: configuration ${where} has no name`);
      if (
        entry?.description !== undefined &&
        entry.description !== null &&
        typeof entry.description !== 'string'
      ) {
        problems.push(`${file}: configuration ${where}.description is not text`);
      }
      const nested = Array.isArray(node[key]) ? (node[key] as SchemaNode[])[0] : node[key];
      if (entry?.fields && nested && typeof nested === 'object' && !Array.isArray(nested)) {
        walk(entry.fields, nested, where);
      } else if (entry?.fields) {
        problems.push(`${file}: configuration ${where} has fields but the option holds none`);
      }
    }
    for (const [key, value] of Object.entries(node)) {
      const where = path ? `${path}.${key}` : key;
      if (!(key in entries)) problems.push(`${file}: option ${where} has no translation`);
      const nested = Array.isArray(value) ? value[0] : value;
      if (
        key in entries &&
        nested &&
        typeof nested === 'object' &&
        !Array.isArray(nested) &&
        !entries[key]?.fields
      ) {
        problems.push(`${file}: option ${where} holds options but its translation has no fields`);
      }
    }
  };
  walk(translations.configuration ?? {}, schema, '');
  const network = Object.keys(translations.network ?? {});
  for (const key of network) {
    if (!(key in ports))
      problems.push(
        `${file}: network key '${key}' is not a config.yaml ports key (${Object.keys(ports).join(', ')})`,
      );
  }
  for (const key of Object.keys(ports)) {
    if (!network.includes(key)) problems.push(`${file}: port '${key}' has no network description`);
  }
  return problems;
}
