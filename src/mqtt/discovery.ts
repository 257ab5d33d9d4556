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
  /** Recorder device names seen so far. */
  recorderDevices: readonly string[];
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

/** Builds the components, in a fixed order: hub sensors, engines, recorder devices and totals, commands. */
export function buildComponents(ctx: DiscoveryContext): Record<string, DiscoveryComponent> {
  const avail = { availability_topic: ctx.topics.availability };
  const id = (cmp: string): string => `${ctx.deviceId}_${cmp}`;
  const cmps: Record<string, DiscoveryComponent> = {};
  const sensor = (
    cmp: string,
    name: string,
    stateTopic: string,
    template: string,
    extra: Record<string, unknown> = {},
  ): void => {
    cmps[cmp] = {
      p: 'sensor',
      name,
      unique_id: id(cmp),
      state_topic: stateTopic,
      value_template: template,
      ...extra,
      ...avail,
    };
  };
  const status = ctx.topics.status;
  const measurement = { state_class: 'measurement' };
  sensor('cache_size', 'Cache size', status, '{{ (value_json.cache.bytes / 1048576) | round(2) }}', {
    unit_of_measurement: 'MB',
    device_class: 'data_size',
    ...measurement,
  });
  sensor('cache_entries', 'Cache entries', status, '{{ value_json.cache.entries }}', measurement);
  sensor('hit_ratio', 'Cache hit ratio', status, '{{ (value_json.cache.hit_ratio * 100) | round(1) }}', {
    unit_of_measurement: '%',
    ...measurement,
  });
  sensor('queue_depth', 'Queue depth', status, '{{ value_json.queue_depth }}', measurement);
  sensor('last_latency', 'Last latency', status, '{{ value_json.last_latency_ms }}', {
    unit_of_measurement: 'ms',
    device_class: 'duration',
    ...measurement,
  });
  for (const engine of ctx.engines) {
    const cmp = `engine_${slug(engine)}`;
    cmps[cmp] = {
      p: 'binary_sensor',
      name: `Engine ${engine}`,
      unique_id: id(cmp),
      state_topic: status,
      value_template: `{{ 'ON' if (value_json.engines | selectattr('name', 'eq', ${JSON.stringify(engine)}) | map(attribute='healthy') | first) else 'OFF' }}`,
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      ...avail,
    };
  }
  for (const device of [...ctx.recorderDevices].sort()) {
    const topic = `${ctx.topics.recorder}/${device}/status`;
    sensor(`rec_${slug(device)}_state`, `Recorder ${device}`, topic, '{{ value_json.state }}', {
      device_class: 'enum',
      options: ['recording', 'idle', 'error'],
    });
    sensor(
      `rec_${slug(device)}_size`,
      `Recorder ${device} size`,
      topic,
      '{{ value_json.bytes if value_json.in_progress else (value_json.last.bytes if value_json.last is defined else 0) }}',
      { unit_of_measurement: 'B', device_class: 'data_size', ...measurement },
    );
  }
  const totals = `${ctx.topics.recorder}/status`;
  sensor(
    'recordings_size',
    'Recordings size',
    totals,
    '{{ (value_json.total_bytes / 1048576) | round(1) }}',
    {
      unit_of_measurement: 'MB',
      device_class: 'data_size',
      ...measurement,
    },
  );
  sensor('disk_free', 'Free space', totals, '{{ (value_json.disk_free_bytes / 1073741824) | round(2) }}', {
    unit_of_measurement: 'GB',
    device_class: 'data_size',
    ...measurement,
  });
  cmps.say = {
    p: 'notify',
    name: 'Say',
    unique_id: id('say'),
    command_topic: ctx.topics.notify,
    qos: 1,
    ...avail,
  };
  cmps.clear_cache = {
    p: 'button',
    name: 'Clear cache',
    unique_id: id('clear_cache'),
    command_topic: ctx.topics.clearCache,
    payload_press: 'PRESS',
    entity_category: 'config',
    qos: 1,
    ...avail,
  };
  return cmps;
}

/**
 * The whole device payload. `removed` maps ids of components that existed before and are gone now to their
 * platform: they are sent as `{p}` so Home Assistant deletes them (after the current ones, sorted).
 */
export function buildDevicePayload(
  ctx: DiscoveryContext,
  removed: ReadonlyMap<string, string>,
): DevicePayload {
  const dev: Record<string, unknown> = {
    ids: [ctx.deviceId],
    name: 'TTS Hub',
    mf: 'TTS Hub',
    mdl: 'Text-to-speech hub',
    sw: ctx.version,
  };
  if (ctx.configurationUrl) dev.cu = ctx.configurationUrl;
  const cmps = buildComponents(ctx);
  for (const cmp of [...removed.keys()].sort()) {
    if (!(cmp in cmps)) cmps[cmp] = { p: removed.get(cmp) as string };
  }
  return { dev, o: { name: 'tts-hub', sw: ctx.version }, cmps };
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
