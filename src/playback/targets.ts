/**
 * Target resolution: a name in a request's `target` becomes a TargetSpec, either a configured target
 * (`targets[]` in the options, by name) or an ad-hoc one written as an address:
 * - `media_player.<object_id>` → a Home Assistant media player (entity ids per Home Assistant's
 *   `homeassistant/core.py` `valid_entity_id`: lower-case letters, digits and `_`);
 * - `assist_satellite.<object_id>` → a Home Assistant assist satellite;
 * - `hermes:<siteId>` → a Rhasspy/Hermes site (`hermes/audioServer/<siteId>/playBytes/<id>`);
 * - `tcp://host:port` → a Wyoming snd service.
 */
import type { OutputFormat } from '../audio/format.js';
import type { TargetOptions } from '../config/schema.js';
import type { AudioPreset } from '../say/presets.js';
import { AppError } from '../shared/errors.js';
import { audioPresetOf } from './presets.js';

/** The kinds of target, one sink file each under `sinks/`. */
export type TargetType = TargetOptions['type'];

/** A resolved target: what a sink needs to play to it. */
export interface TargetSpec {
  /** The name the request used (reported back in the result's `targets[].name`). */
  name: string;
  /** Identifies the physical target: one queue per key, so a named and an ad-hoc name for one speaker share it. */
  key: string;
  type: TargetType;
  /** media_player / assist_satellite entity id. */
  entityId?: string;
  /** wyoming: `tcp://host:port`; mqtt: the topic. */
  url?: string;
  /** hermes: the site id. */
  siteId?: string;
  /** The format players receive; undefined: the request's format. */
  format?: OutputFormat;
  /** media_player: true needs MEDIA_ANNOUNCE, false never announces; undefined: when the player supports it. */
  announce?: boolean;
  /** 0–1: media_player sets (and restores) the player's volume; wyoming/hermes scale the samples. */
  volume?: number;
  /** media_player: `media_content_type` to send; undefined: the MIME type of the format. */
  mediaContentType?: string;
  /** assist_satellite: `preannounce` (the chime); undefined: Home Assistant's default. */
  preannounce?: boolean;
  /** The audio defaults of a configured target (engine, voice, chimes, timing); empty for addresses. */
  preset: AudioPreset;
  /** The group the request named this target through, if any. */
  group?: string;
}

const ENTITY_OBJECT_ID = /^[a-z0-9_]+$/;
/** Characters an MQTT topic level must not hold (MQTT 3.1.1 §4.7: `/` separates, `+` and `#` are wildcards). */
const TOPIC_LEVEL = /^[^/+#\s]{1,64}$/;

/** The key of a spec's physical target. */
function keyOf(type: TargetType, address: string): string {
  return `${type}:${address}`;
}

/** Turns a configured target into a spec. */
export function specFromOptions(t: TargetOptions): TargetSpec {
  const address = t.entity_id ?? t.site_id ?? t.url ?? t.name;
  return {
    name: t.name,
    key: keyOf(t.type, address),
    type: t.type,
    entityId: t.entity_id,
    url: t.url,
    siteId: t.site_id,
    format: t.format,
    announce: t.announce,
    volume: t.volume,
    mediaContentType: t.media_content_type,
    preannounce: t.preannounce,
    preset: audioPresetOf(t),
  };
}

/** An ad-hoc address as a spec, or undefined when `name` is not one. */
export function adHocSpec(name: string): TargetSpec | undefined {
  const base = { name, preset: {} };
  const dot = name.indexOf('.');
  const domain = name.slice(0, dot);
  const objectId = name.slice(dot + 1);
  if ((domain === 'media_player' || domain === 'assist_satellite') && ENTITY_OBJECT_ID.test(objectId)) {
    return { ...base, key: keyOf(domain, name), type: domain, entityId: name };
  }
  if (name.startsWith('hermes:')) {
    const siteId = name.slice('hermes:'.length);
    if (TOPIC_LEVEL.test(siteId)) return { ...base, key: keyOf('hermes', siteId), type: 'hermes', siteId };
  }
  if (name.startsWith('tcp://')) return { ...base, key: keyOf('wyoming', name), type: 'wyoming', url: name };
  return undefined;
}

/**
 * Checks configured targets: each type's required field, valid site ids and Wyoming URLs, unique names.
 * Returns every problem as `targets[i].field: message` (empty when all is well); `parseOptions` reports them
 * with the other option problems at start-up.
 */
export function targetProblems(targets: TargetOptions[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  targets.forEach((t, i) => {
    const at = `targets[${i}]`;
    if (names.has(t.name)) problems.push(`${at}.name: duplicate target name '${t.name}'`);
    names.add(t.name);
    const need = (field: keyof TargetOptions, what: string): void => {
      if (!t[field]) problems.push(`${at}.${field}: a ${t.type} target needs ${what}`);
    };
    switch (t.type) {
      case 'media_player':
      case 'assist_satellite':
        need('entity_id', `entity_id (${t.type}.<name>)`);
        if (t.entity_id && !t.entity_id.startsWith(`${t.type}.`))
          problems.push(`${at}.entity_id: '${t.entity_id}' must look like ${t.type}.<name>`);
        break;
      case 'wyoming':
        need('url', 'url (tcp://host:port of a Wyoming snd service)');
        if (t.url && !/^tcp:\/\/[^/]+:\d+\/?$/.test(t.url))
          problems.push(`${at}.url: '${t.url}' must look like tcp://host:port`);
        break;
      case 'hermes':
        need('site_id', 'site_id (the Rhasspy siteId)');
        if (t.site_id && !TOPIC_LEVEL.test(t.site_id))
          problems.push(`${at}.site_id: '${t.site_id}' must not contain /, +, # or spaces`);
        break;
      case 'mqtt':
        need('url', 'url (the MQTT topic to publish to)');
        if (t.url && /[+#]/.test(t.url)) problems.push(`${at}.url: topic '${t.url}' must not hold wildcards`);
        break;
    }
  });
  return problems;
}

/**
 * Resolves request target names: group names to their members, configured names, then ad-hoc addresses. Each
 * target appears once, in request order (a target named directly and through a group plays once, reported
 * without the group; one in two groups keeps the first). An ad-hoc `tcp://host:port` makes the hub connect
 * wherever a request says, so it is refused unless `allowTcp` (option `limits.allow_tcp_targets`, default off);
 * a configured Wyoming target is always fine.
 * @throws AppError TARGET_NOT_ALLOWED for an ad-hoc tcp:// target without `allowTcp`; TARGET_NOT_FOUND naming
 *   the unknown target, the configured names and groups, and the ad-hoc forms.
 */
export function resolveTargets(
  names: string[],
  configured: ReadonlyMap<string, TargetSpec>,
  groups: ReadonlyMap<string, readonly string[]> = new Map(),
  opts: { allowTcp?: boolean } = {},
): TargetSpec[] {
  const out = new Map<string, TargetSpec>();
  const one = (name: string, group?: string): void => {
    const named = configured.get(name);
    const spec = named ?? adHocSpec(name);
    if (!named && spec?.type === 'wyoming' && !opts.allowTcp) {
      throw new AppError(
        'TARGET_NOT_ALLOWED',
        `target '${name.slice(0, 128)}': ad-hoc tcp:// targets are off; add it to targets[] or set limits.allow_tcp_targets`,
      );
    }
    if (!spec) {
      const known = [...configured.keys()];
      const groupNames = [...groups.keys()];
      throw new AppError(
        'TARGET_NOT_FOUND',
        `target '${name}' is not configured; configured targets: ${known.length ? known.join(', ') : 'none'}; ` +
          `groups: ${groupNames.length ? groupNames.join(', ') : 'none'}; ` +
          'or address one directly as media_player.<name>, assist_satellite.<name>, hermes:<siteId> or tcp://host:port',
      );
    }
    const seen = out.get(name);
    if (seen && (seen.group === undefined || group !== undefined)) return;
    out.set(name, group === undefined ? spec : { ...spec, group });
  };
  for (const name of names) {
    const members = configured.has(name) ? undefined : groups.get(name);
    if (members) for (const m of members) one(m, name);
    else one(name);
  }
  return [...out.values()];
}
