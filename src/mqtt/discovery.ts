/**
 * Home Assistant MQTT discovery payloads, device-based: one retained message on
 * `<prefix>/device/<device id>/config` describes the hub device and all its entities.
 *
 * Source: home-assistant/core `homeassistant/components/mqtt/discovery.py` (device discovery: `dev`, `o`, `cmps`
 * abbreviations; each component needs `p`, its platform; a component reduced to `{p}` is removed; an empty
 * payload removes the device) and `abbreviations.py`; the MQTT integration docs ("Device discovery payload").
 * Entity states come from topics the hub publishes anyway (`tts/status`, `recorder/<device>/status`,
 * `recorder/status`, all retained JSON), read with value templates, so no extra state topics exist.
 * Key order is fixed by construction so an unchanged configuration serializes to the same bytes.
 */

/** Everything the payload depends on. */
export interface DiscoveryContext {
  /** `topics.discovery_prefix`, e.g. `homeassistant`. */
  prefix: string;
  /** The device id (`[a-zA-Z0-9_-]`), also the prefix of every unique_id. */
  deviceId: string;
  version: string;
  /** The panel's URL for the device page, if known. */
  configurationUrl?: string;
  topics: {
    /** `topics.status` (retained hub status JSON). */
    status: string;
    /** `topics.availability` (`online`/`offline`). */
    availability: string;
    /** `topics.recorder` prefix. */
    recorder: string;
    /** Where the notify entity publishes its message. */
    notify: string;
    /** Where the clear-cache button publishes `PRESS`. */
    clearCache: string;
  };
  /** Engine names in configured order. */
  engines: readonly string[];
  /** Endpoints of the instances of engines that have several (`urls`): each gets its own binary sensor. */
  engineInstances?: Readonly<Record<string, readonly string[]>>;
  /** Recorder device names seen so far. */
  recorderDevices: readonly string[];
  /**
   * In a share group (issue 15): the service device every hub of the group publishes alike. It holds what
   * belongs to the service, not to one hub (the notify entity, the clear-cache button, the recorder sensors:
   * any hub speaks, clears and records), available while any hub is (`availability` list, mode `any`); each
   * hub's own device keeps its own sensors and availability and names the service device as `via_device`.
   */
  group?: GroupContext;
}

/** The service device of a share group. */
export interface GroupContext {
  /** Its device id (`[a-zA-Z0-9_-]`), also the prefix of its components' unique_ids. */
  id: string;
  /** The group's name (`mqtt.share_group`). */
  name: string;
  /** The availability topic of every hub of the group, sorted. */
  availabilityTopics: readonly string[];
}

/** The device id of share group `name`'s service device. */
export function groupDeviceId(name: string): string {
  return `tts_hub_group_${slug(name)}`;
}

/** One component of `cmps` (full option names except the structural `p`). */
export type DiscoveryComponent = { p: string } & Record<string, unknown>;

/** The device discovery payload. */
export interface DevicePayload {
  dev: Record<string, unknown>;
  o: Record<string, unknown>;
  cmps: Record<string, DiscoveryComponent>;
}

/** The config topic of the device. */
export function discoveryTopic(prefix: string, deviceId: string): string {
  return `${prefix}/device/${deviceId}/config`;
}

/** Turns any text into an id of `[a-z0-9_]` (engine and device names become component ids). */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
}

/** A sensor read from a retained JSON topic with a value template. */
interface SensorSpec {
  cmp: string;
  name: string;
  template: string;
  extra: Record<string, unknown>;
}

const MEASUREMENT = { state_class: 'measurement' };
const MB = { unit_of_measurement: 'MB', device_class: 'data_size', ...MEASUREMENT };

/** Sensors on `tts/status` (the hub's retained status JSON). */
const STATUS_SENSORS: SensorSpec[] = [
  {
    cmp: 'cache_size',
    name: 'Cache size',
    template: '{{ (value_json.cache.bytes / 1048576) | round(2) }}',
    extra: MB,
  },
  {
    cmp: 'cache_entries',
    name: 'Cache entries',
    template: '{{ value_json.cache.entries }}',
    extra: MEASUREMENT,
  },
  {
    cmp: 'hit_ratio',
    name: 'Cache hit ratio',
    template: '{{ (value_json.cache.hit_ratio * 100) | round(1) }}',
    extra: { unit_of_measurement: '%', ...MEASUREMENT },
  },
  { cmp: 'queue_depth', name: 'Queue depth', template: '{{ value_json.queue_depth }}', extra: MEASUREMENT },
  {
    cmp: 'last_latency',
    name: 'Last latency',
    template: '{{ value_json.last_latency_ms }}',
    extra: { unit_of_measurement: 'ms', device_class: 'duration', ...MEASUREMENT },
  },
];

/** Sensors on `recorder/status` (the recorder's retained totals). */
const TOTALS_SENSORS: SensorSpec[] = [
  {
    cmp: 'recordings_size',
    name: 'Recordings size',
    template: '{{ (value_json.total_bytes / 1048576) | round(1) }}',
    extra: MB,
  },
  {
    cmp: 'disk_free',
    name: 'Free space',
    template: '{{ (value_json.disk_free_bytes / 1073741824) | round(2) }}',
    extra: { ...MB, unit_of_measurement: 'GB' },
  },
];

/** One component with the shared fields: platform first, then name and unique_id, availability last. */
function component(
  ctx: DiscoveryContext,
  p: string,
  cmp: string,
  name: string,
  fields: Record<string, unknown>,
): DiscoveryComponent {
  const service = ctx.group && SERVICE_COMPONENT.test(cmp) ? ctx.group : undefined;
  if (!service) {
    return {
      p,
      name,
      unique_id: `${ctx.deviceId}_${cmp}`,
      ...fields,
      availability_topic: ctx.topics.availability,
    };
  }
  // home-assistant/core `mqtt/entity.py` MqttAvailabilityMixin: with mode `any` an entity is available while
  // any topic of its `availability` list last said `online` (a topic never heard from counts as offline).
  return {
    p,
    name,
    unique_id: `${service.id}_${cmp}`,
    ...fields,
    availability: service.availabilityTopics.map((topic) => ({ topic })),
    availability_mode: 'any',
  };
}

/** Components of the service device in a share group: commands, recorder devices and totals. */
const SERVICE_COMPONENT = /^(say|clear_cache|rec_.*|recordings_size|disk_free)$/;

function sensor(ctx: DiscoveryContext, spec: SensorSpec, stateTopic: string): DiscoveryComponent {
  return component(ctx, 'sensor', spec.cmp, spec.name, {
    state_topic: stateTopic,
    value_template: spec.template,
    ...spec.extra,
  });
}

/** A recorder device's two sensors: its state and the size of the current (or last) recording. */
function recorderSensors(device: string): SensorSpec[] {
  return [
    {
      cmp: `rec_${slug(device)}_state`,
      name: `Recorder ${device}`,
      template: '{{ value_json.state }}',
      extra: { device_class: 'enum', options: ['recording', 'idle', 'error'] },
    },
    {
      cmp: `rec_${slug(device)}_size`,
      name: `Recorder ${device} size`,
      template:
        '{{ value_json.bytes if value_json.in_progress else (value_json.last.bytes if value_json.last is defined else 0) }}',
      extra: { unit_of_measurement: 'B', device_class: 'data_size', ...MEASUREMENT },
    },
  ];
}

/** One connectivity binary sensor per instance of an engine with several, read from its row in tts/status. */
function instanceSensors(ctx: DiscoveryContext, engine: string): Array<[string, DiscoveryComponent]> {
  const endpoints = ctx.engineInstances?.[engine] ?? [];
  if (endpoints.length < 2) return [];
  return endpoints.map((endpoint, i) => {
    const cmp = `engine_${slug(engine)}_instance_${i + 1}`;
    const row = `value_json.engines | selectattr('name', 'eq', ${JSON.stringify(engine)}) | first`;
    return [
      cmp,
      component(ctx, 'binary_sensor', cmp, `Engine ${engine} ${i + 1} (${endpoint})`, {
        state_topic: ctx.topics.status,
        value_template: `{% set e = ${row} %}{{ 'ON' if e and e.instances[${i}] and e.instances[${i}].healthy else 'OFF' }}`,
        device_class: 'connectivity',
        entity_category: 'diagnostic',
      }),
    ];
  });
}

/** Builds the components, in a fixed order: hub sensors, engines, recorder devices and totals, commands. */
function buildComponents(ctx: DiscoveryContext): Record<string, DiscoveryComponent> {
  const cmps: Record<string, DiscoveryComponent> = {};
  for (const spec of STATUS_SENSORS) cmps[spec.cmp] = sensor(ctx, spec, ctx.topics.status);
  cmps.cache_degraded = component(ctx, 'binary_sensor', 'cache_degraded', 'Cache degraded', {
    state_topic: ctx.topics.status,
    value_template: "{{ 'ON' if value_json.cache.degraded | default(false) else 'OFF' }}",
    device_class: 'problem',
    entity_category: 'diagnostic',
  });
  for (const engine of ctx.engines) {
    const cmp = `engine_${slug(engine)}`;
    cmps[cmp] = component(ctx, 'binary_sensor', cmp, `Engine ${engine}`, {
      state_topic: ctx.topics.status,
      value_template: `{{ 'ON' if (value_json.engines | selectattr('name', 'eq', ${JSON.stringify(engine)}) | map(attribute='healthy') | first) else 'OFF' }}`,
      device_class: 'connectivity',
      entity_category: 'diagnostic',
    });
    for (const [cmp, c] of instanceSensors(ctx, engine)) cmps[cmp] = c;
  }
  for (const device of [...ctx.recorderDevices].sort()) {
    const topic = `${ctx.topics.recorder}/${device}/status`;
    for (const spec of recorderSensors(device)) cmps[spec.cmp] = sensor(ctx, spec, topic);
  }
  for (const spec of TOTALS_SENSORS) cmps[spec.cmp] = sensor(ctx, spec, `${ctx.topics.recorder}/status`);
  cmps.say = component(ctx, 'notify', 'say', 'Say', { command_topic: ctx.topics.notify, qos: 1 });
  cmps.clear_cache = component(ctx, 'button', 'clear_cache', 'Clear cache', {
    command_topic: ctx.topics.clearCache,
    payload_press: 'PRESS',
    entity_category: 'config',
    qos: 1,
  });
  return cmps;
}

/** Adds `{p}` stubs for components that existed before and are gone now (after the live ones, sorted). */
function withRemoved(
  cmps: Record<string, DiscoveryComponent>,
  removed: ReadonlyMap<string, string>,
): Record<string, DiscoveryComponent> {
  for (const cmp of [...removed.keys()].sort()) {
    if (!(cmp in cmps)) cmps[cmp] = { p: removed.get(cmp) as string };
  }
  return cmps;
}

/**
 * The hub's device payload. `removed` maps ids of components that existed before and are gone now to their
 * platform: they are sent as `{p}` so Home Assistant deletes them (after the current ones, sorted). In a share
 * group the hub's device keeps only its own sensors (see `group`); the rest is in {@link buildServicePayload}.
 */
export function buildDevicePayload(
  ctx: DiscoveryContext,
  removed: ReadonlyMap<string, string>,
): DevicePayload {
  const dev: Record<string, unknown> = {
    ids: [ctx.deviceId],
    name: ctx.group ? `TTS Hub ${ctx.deviceId}` : 'TTS Hub',
    mf: 'TTS Hub',
    mdl: 'Text-to-speech hub',
    sw: ctx.version,
  };
  if (ctx.configurationUrl) dev.cu = ctx.configurationUrl;
  if (ctx.group) dev.via_device = ctx.group.id;
  const all = buildComponents(ctx);
  const cmps = ctx.group
    ? Object.fromEntries(Object.entries(all).filter(([cmp]) => !SERVICE_COMPONENT.test(cmp)))
    : all;
  return { dev, o: { name: 'tts-hub', sw: ctx.version }, cmps: withRemoved(cmps, removed) };
}

/** The service device payload of a share group (see `DiscoveryContext.group`); undefined without a group. */
export function buildServicePayload(
  ctx: DiscoveryContext,
  removed: ReadonlyMap<string, string>,
): DevicePayload | undefined {
  if (!ctx.group) return undefined;
  const dev: Record<string, unknown> = {
    ids: [ctx.group.id],
    name: 'TTS Hub',
    mf: 'TTS Hub',
    mdl: `Text-to-speech service (group ${ctx.group.name})`,
    sw: ctx.version,
  };
  const cmps = Object.fromEntries(
    Object.entries(buildComponents(ctx)).filter(([c]) => SERVICE_COMPONENT.test(c)),
  );
  return { dev, o: { name: 'tts-hub', sw: ctx.version }, cmps: withRemoved(cmps, removed) };
}

/** The availability topics a service payload lists (to keep hubs another hub already listed). */
export function listedAvailability(payload: unknown): string[] {
  const cmps = (payload as { cmps?: Record<string, { availability?: Array<{ topic?: unknown }> }> } | null)
    ?.cmps;
  const topics = new Set<string>();
  for (const c of Object.values(cmps ?? {})) {
    for (const a of c?.availability ?? []) if (typeof a?.topic === 'string') topics.add(a.topic);
  }
  return [...topics];
}

/** Component ids and platforms of a payload, without the removal stubs (`{p}` only). */
export function liveComponents(payload: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const cmps = (payload as { cmps?: unknown } | null)?.cmps;
  if (typeof cmps !== 'object' || cmps === null) return out;
  for (const [cmp, c] of Object.entries(cmps as Record<string, unknown>)) {
    const p = (c as { p?: unknown } | null)?.p;
    if (typeof p === 'string' && Object.keys(c as object).length > 1) out.set(cmp, p);
  }
  return out;
}

/** The topic base of the hub's own command topics: the say topic's parent (`tts/say` → `tts`). */
export function commandBase(sayTopic: string): string {
  const i = sayTopic.lastIndexOf('/');
  return i > 0 ? sayTopic.slice(0, i) : sayTopic;
}
