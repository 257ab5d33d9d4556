/**
 * The MQTT adapter of the recorder (DESIGN "MQTT"): `recorder/<device>/start|audio|stop` in, the retained
 * `recorder/<device>/status` and `recorder/status` out. It only translates: every recording goes through the
 * recorder's `open(device, format)` → `write(pcm)` → `close()`.
 */
import { z } from 'zod';
import { type AudioFormat, MIC_FORMAT } from '../audio/format.js';
import type { Options } from '../config/schema.js';
import type { DeviceStatus, Recorder, RecorderTotals } from '../recorder/index.js';
import { createRecorder, MAX_CHANNELS, MAX_RATE_HZ, NAME_PATTERN } from '../recorder/index.js';
import { createRecordingOwner } from '../recorder/owner-registry.js';
import { createWyomingMic } from '../recorder/wyoming-mic.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import { attachDeviceOwnership, type DeviceOwnership } from './device-ownership.js';
import { DeviceQueue, deviceNameGuard, RefusalMemo } from './device-queue.js';
import { attachHermesRecorder } from './hermes-recorder.js';
import type { HubPeers } from './hub-peers.js';

/** The `start` payload: `{rate?, channels?, width?, id?}` (default 16000 Hz, mono, 2 bytes). */
export const StartPayloadSchema = z
  .object({
    rate: z.number().int().min(1000).max(MAX_RATE_HZ).optional(),
    channels: z.number().int().min(1).max(MAX_CHANNELS).optional(),
    width: z.union([z.literal(1), z.literal(2), z.literal(4)]).optional(),
    id: z.string().regex(NAME_PATTERN, "1-64 letters, digits, '_' or '-'").optional(),
  })
  .strict();

/**
 * Reads a `start` payload: empty means all defaults.
 * @throws AppError BAD_PAYLOAD with the first problem, naming the field.
 */
export function parseStartPayload(payload: Buffer): { format: AudioFormat; id?: string } {
  const text = payload.toString('utf8').trim();
  let raw: unknown = {};
  if (text !== '') {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new AppError('BAD_PAYLOAD', 'recorder start payload is not JSON; send {"rate":16000} or nothing');
    }
  }
  const parsed = StartPayloadSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new AppError(
      'BAD_PAYLOAD',
      `recorder start payload refused: ${where}${issue?.message ?? 'invalid'}`,
    );
  }
  const { rate, channels, width, id } = parsed.data;
  const format: AudioFormat = {
    rateHz: rate ?? MIC_FORMAT.rateHz,
    widthBytes: width ?? MIC_FORMAT.widthBytes,
    channels: channels ?? MIC_FORMAT.channels,
  };
  return id === undefined ? { format } : { format, id };
}

/** Publishes the recorder's retained status topics; statuses before `bind` wait (latest per topic). */
export interface RecorderStatusPublisher {
  /** Starts publishing on `bus`, first what waited. */
  bind(bus: MqttBus): void;
  /** `recorder/<device>/status`, retained, QoS 1. */
  status(device: string, payload: DeviceStatus): void;
  /** `recorder/status`, retained, QoS 1. */
  totals(payload: RecorderTotals): void;
  /** Resolves once every publish so far is acknowledged or failed (call before the bus stops). */
  flush(): Promise<void>;
}

/**
 * Creates the status publisher for topic prefix `prefix` (option `topics.recorder`). A failed publish is logged.
 * `hub` (a share group: this hub's client id) is added to every device status as `hub`, so the other hubs know
 * who records the device.
 */
export function createRecorderStatusPublisher(
  prefix: string,
  log: Log,
  hub?: string,
): RecorderStatusPublisher {
  let bus: MqttBus | undefined;
  const waiting = new Map<string, string>();
  const pending = new Set<Promise<void>>();
  const send = (topic: string, json: string): void => {
    if (!bus) {
      waiting.set(topic, json);
      return;
    }
    const p = bus
      .publish(topic, json, { qos: 1, retain: true })
      .catch((err: unknown) =>
        log.warn({ topic, err: (err as Error).message }, 'recorder status publish failed'),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  return {
    bind(b) {
      bus = b;
      for (const [topic, json] of waiting) send(topic, json);
      waiting.clear();
    },
    status: (device, payload) =>
      send(`${prefix}/${device}/status`, JSON.stringify(hub ? { ...payload, hub } : payload)),
    totals: (payload) => send(`${prefix}/status`, JSON.stringify(payload)),
    async flush() {
      await Promise.allSettled([...pending]);
    },
  };
}

/** The attached MQTT recorder input. */
export interface RecorderTopics {
  /** Resolves once every message received so far has been handled. */
  idle(): Promise<void>;
}

/**
 * Subscribes `<prefix>/+/start` and `<prefix>/+/stop` at QoS 1 and `<prefix>/+/audio` at QoS 1 (publishers
 * choose 0 or 1) — before `bus.start()`, so a persistent session's queued messages are not missed. Each device's
 * messages are handled strictly in order. Audio without a `start` opens a default 16 kHz s16le mono recording
 * that the recorder's idle timeout ends. A refused device name is logged once; a refused payload of a valid
 * device is logged and shown as an error status. Retained messages are ignored. Nothing here throws into mqtt.js.
 */
export async function attachRecorderTopics(opts: {
  bus: MqttBus;
  prefix: string;
  recorder: Recorder;
  /**
   * In a share group: whether this hub records `device` (device-ownership.ts). A device this hub does not own
   * is ignored, except that the format of its last `start` is remembered, so the hub can take over its audio
   * when the owner dies. A recording in progress here is always kept to its end.
   */
  owns?: (device: string) => boolean;
  /** In a share group: the format another hub last recorded `device` in (its retained status). */
  formatOf?: (device: string) => AudioFormat | undefined;
  log: Log;
}): Promise<RecorderTopics> {
  const { recorder, log } = opts;
  const lastFormat = new Map<string, AudioFormat>();
  const mine = (device: string): boolean => !opts.owns || !!recorder.active(device) || opts.owns(device);
  const queue = new DeviceQueue(log);
  const validName = deviceNameGuard(log, 'recorder message');

  const refusals = new RefusalMemo();
  const refuse = (device: string, err: unknown): void => {
    const e = toAppError(err, 'BAD_PAYLOAD');
    // The recorder logs its own cap and allowlist refusals (once per device).
    if (e.code === 'LIMIT_REACHED' || e.code === 'INVALID_DEVICE') return;
    if (!refusals.isNew(device, e.message)) return;
    log.warn({ device, code: e.code, err: e.message }, 'recorder message refused');
  };

  const start = async (device: string, payload: Buffer): Promise<void> => {
    let parsed: ReturnType<typeof parseStartPayload>;
    try {
      parsed = parseStartPayload(payload);
    } catch (err) {
      if (!mine(device)) return;
      refuse(device, err);
      recorder.reportError(device, toAppError(err, 'BAD_PAYLOAD'));
      return;
    }
    const { format, id } = parsed;
    lastFormat.set(device, format);
    if (!mine(device)) return;
    try {
      await recorder.open(device, format, { source: 'mqtt', explicit: true, ...(id ? { id } : {}) });
      refusals.clear(device);
    } catch (err) {
      refuse(device, err);
    }
  };

  const audio = async (device: string, pcm: Buffer): Promise<void> => {
    try {
      let session = recorder.active(device);
      if (!session) {
        if (!mine(device)) return;
        const format = lastFormat.get(device) ?? opts.formatOf?.(device) ?? MIC_FORMAT;
        session = await recorder.open(device, format, { source: 'mqtt' });
        refusals.clear(device);
      }
      session.write(pcm);
    } catch (err) {
      refuse(device, err);
    }
  };

  const stop = async (device: string): Promise<void> => {
    const session = recorder.active(device);
    if (!session) {
      log.debug({ device }, 'recorder stop without a recording');
      return;
    }
    await session.close();
  };

  const handlers = { start, audio, stop } as const;
  for (const kind of ['start', 'audio', 'stop'] as const) {
    await opts.bus.subscribe(`${opts.prefix}/+/${kind}`, 1, (topic, payload, packet) => {
      const device = topic.slice(opts.prefix.length + 1, topic.length - kind.length - 1);
      if (!validName(device, topic)) return;
      if (packet.retain) {
        log.warn({ topic }, 'retained recorder message ignored; publish recorder messages without retain');
        return;
      }
      queue.run(device, () => handlers[kind](device, payload));
    });
  }
  return { idle: () => queue.idle() };
}

/** The recorder with every input and output wired, as the hub runs it. */
export interface RecorderWiring {
  readonly recorder: Recorder;
  /** Subscribes the MQTT inputs (and Hermes frames when enabled). Call before `bus.start()`. */
  attach(bus: MqttBus): Promise<void>;
  /**
   * Recovers stale recordings, starts retention and status, then the Wyoming microphones. Never rejects: a
   * recorder that cannot start (share not writable) is logged and refuses recordings; speech goes on.
   */
  start(signal?: AbortSignal): Promise<void>;
  /** Starts publishing status on `bus` (call once it is connected); statuses from recovery wait until then. */
  bind(bus: MqttBus): void;
  /** Stops the microphones, finalizes every recording, and waits until the final statuses are published. */
  stop(): Promise<void>;
}

/**
 * Builds the recorder from the `recorder` options slice with its status publisher, MQTT and Hermes inputs and
 * the `microphones` (Wyoming mic services). `baseUrl` makes `url` fields: `${baseUrl}/api/recordings/<id>/audio`.
 */
export function createRecorderWiring(opts: {
  options: Options['recorder'];
  /** Wyoming microphone services to record from (option `microphones`). */
  microphones: Options['microphones'];
  shareDir: string;
  prefix: string;
  hermes: boolean;
  baseUrl: string;
  log: Log;
  /** Also called with every device status (the panel's event stream). A throw is logged, never fatal. */
  onDeviceStatus?: (payload: DeviceStatus) => void;
  /** In a share group: this hub's id and the other hubs (after the group attached), for device ownership. */
  share?: { hubId: string; peers(): HubPeers | undefined };
}): RecorderWiring {
  const { options, log, share } = opts;
  let ownership: DeviceOwnership | undefined;
  const publisher = createRecorderStatusPublisher(
    opts.prefix,
    log.child({ mod: 'mqtt-recorder' }),
    share?.hubId,
  );
  const recorder = createRecorder({
    shareDir: opts.shareDir,
    bitrateKbps: options.bitrate_kbps,
    keepWav: options.keep_wav,
    retentionDays: options.retention_days,
    maxTotalMb: options.max_total_mb,
    idleTimeoutMs: options.idle_timeout_s * 1000,
    maxRecordings: options.max_recordings,
    maxDurationMs: options.max_duration_s * 1000,
    maxRecordingBytes: options.max_recording_mb * 1024 * 1024,
    allowedDevices: options.devices,
    publicUrl: (id) => `${opts.baseUrl}/api/recordings/${id}/audio`,
    log,
    onStatus: (device, payload) => {
      // A status of this hub (a recovered recording, an error) must not hide that another hub records the
      // device right now: the retained status is that hub's until its recording ends.
      const holder = ownership?.holder(device);
      const held = holder !== undefined && holder !== share?.hubId && share?.peers()?.isOnline(holder);
      // The format goes out too, so a hub that takes the device over records it in the right one.
      const format = share ? recorder.active(device)?.format : undefined;
      const shown = format
        ? { ...payload, format: { rate: format.rateHz, width: format.widthBytes, channels: format.channels } }
        : payload;
      if (!held || payload.state === 'recording') publisher.status(device, shown);
      opts.onDeviceStatus?.(payload);
    },
    onTotals: (payload) => publisher.totals(payload),
    ...(share ? { owner: createRecordingOwner({ shareDir: opts.shareDir, hubId: share.hubId, log }) } : {}),
  });
  const mics = opts.microphones.map((m) =>
    createWyomingMic({
      name: m.name,
      url: m.url,
      recorder,
      log,
      idleTimeoutMs: options.idle_timeout_s * 1000,
    }),
  );
  return {
    recorder,
    async attach(bus) {
      const peers = share?.peers();
      ownership = peers
        ? await attachDeviceOwnership({
            bus,
            prefix: opts.prefix,
            peers,
            log: log.child({ mod: 'ownership' }),
          })
        : undefined;
      const view = ownership;
      const owns = view ? (device: string) => view.owns(device) : undefined;
      await attachRecorderTopics({
        bus,
        prefix: opts.prefix,
        recorder,
        ...(owns && view ? { owns, formatOf: (device: string) => view.formatOf(device) } : {}),
        log: log.child({ mod: 'mqtt-recorder' }),
      });
      if (opts.hermes)
        await attachHermesRecorder({
          bus,
          recorder,
          ...(owns ? { owns } : {}),
          log: log.child({ mod: 'hermes-recorder' }),
        });
    },
    async start(signal) {
      try {
        const outcome = await recorder.start(signal);
        if (outcome.recovered.length > 0 || outcome.failed.length > 0) {
          log.info(
            { recovered: outcome.recovered.length, failed: outcome.failed.length },
            'recordings recovered',
          );
        }
      } catch (err) {
        // Speech goes on without the recorder; every recording is then refused with this error.
        log.error({ err: (err as Error).message }, 'recorder could not start; recordings are refused');
        return;
      }
      for (const mic of mics) mic.start();
    },
    bind: (bus) => publisher.bind(bus),
    async stop() {
      await Promise.all(mics.map((m) => m.stop()));
      await recorder.stop();
      await publisher.flush();
    },
  };
}
