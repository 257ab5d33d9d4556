/**
 * The MQTT adapter of the recorder (DESIGN "MQTT"): `recorder/<device>/start|audio|stop` (and Hermes audio
 * frames) in, the retained statuses out (`recorder-status.ts`). It only translates: every recording goes through
 * the recorder's `open(device, format)` → `write(pcm)` → `close()`. The recorder itself is built in
 * `recorder/build.ts`.
 */
import { z } from 'zod';
import { type AudioFormat, MIC_FORMAT } from '../audio/format.js';
import type { RecorderService } from '../recorder/build.js';
import type { RecorderEvents } from '../recorder/events.js';
import type { Recorder } from '../recorder/index.js';
import { MAX_CHANNELS, MAX_RATE_HZ, NAME_PATTERN } from '../recorder/index.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import type { MqttBus } from './client.js';
import { attachDeviceOwnership, type DeviceOwnership } from './device-ownership.js';
import { DeviceQueue, deviceNameGuard, RefusalMemo } from './device-queue.js';
import { attachHermesRecorder } from './hermes-recorder.js';
import type { HubPeers } from './hub-peers.js';
import { createRecorderStatusPublisher, publishRecorderEvents } from './recorder-status.js';

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

/** The attached MQTT recorder input. */
export interface RecorderTopics {
  /** Resolves once every message received so far has been handled. */
  idle(): Promise<void>;
}

/** What {@link attachRecorderTopics} needs. */
export interface RecorderTopicsOptions {
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
}

/**
 * Subscribes `<prefix>/+/start` and `<prefix>/+/stop` at QoS 1 and `<prefix>/+/audio` at QoS 1 (publishers
 * choose 0 or 1) — before `bus.start()`, so a persistent session's queued messages are not missed. Each device's
 * messages are handled strictly in order. Audio without a `start` opens a default 16 kHz s16le mono recording
 * that the recorder's idle timeout ends. A refused device name is logged once; a refused payload of a valid
 * device is logged and shown as an error status. Retained messages are ignored. Nothing here throws into mqtt.js.
 */
export async function attachRecorderTopics(opts: RecorderTopicsOptions): Promise<RecorderTopics> {
  const { log } = opts;
  const queue = new DeviceQueue(log);
  const validName = deviceNameGuard(log, 'recorder message');
  const handlers = recorderHandlers(opts);
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

/** The handlers of one device's `start`, `audio` and `stop` messages (run in order per device). */
function recorderHandlers(opts: RecorderTopicsOptions): Record<'start' | 'audio' | 'stop', Handler> {
  const { recorder, log } = opts;
  const lastFormat = new Map<string, AudioFormat>();
  const mine = (device: string): boolean => !opts.owns || !!recorder.active(device) || opts.owns(device);
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
  return { start, audio, stop };
}

/** One device message's handler. */
type Handler = (device: string, payload: Buffer) => Promise<void>;

/** The recorder's MQTT side as two services of the hub: inputs before the bus connects, statuses after. */
export interface RecorderMqtt {
  /**
   * Subscribes the inputs (before `bus.start()`, so a persistent session's queued messages are not missed):
   * device ownership in a share group, `<prefix>/+/start|audio|stop`, Hermes frames when enabled. Its stop
   * waits until every status so far is published: list it before the recorder, so that runs after the
   * recorder finalized its recordings and before the bus stops.
   */
  readonly topics: Service;
  /** Publishes statuses once the bus is connected (first those from recovery), then waits for the recorder's boot. */
  readonly status: Service;
}

/** What the recorder's MQTT side needs besides its topics. */
export interface RecorderMqttDeps {
  /** The hub's bus (created when the MQTT service starts, before these run). */
  bus(): MqttBus;
  recorder: RecorderService;
  events: EventHub<RecorderEvents>;
  log: Log;
  /** In a share group: this hub's id and the other hubs (after the group attached), for device ownership. */
  share?: { hubId: string; peers(): HubPeers | undefined };
}

/** Builds the recorder's MQTT side on topic prefix `options.prefix` (option `topics.recorder`). */
export function buildRecorderMqtt(
  options: { prefix: string; hermes: boolean },
  deps: RecorderMqttDeps,
): RecorderMqtt {
  const { log, share } = deps;
  let ownership: DeviceOwnership | undefined;
  const publisher = createRecorderStatusPublisher(
    options.prefix,
    log.child({ mod: 'mqtt-recorder' }),
    share?.hubId,
  );
  const off = publishRecorderEvents({
    events: deps.events,
    publisher,
    recorder: deps.recorder.recorder,
    ...(share ? { share } : {}),
    ownership: () => ownership,
  });
  return {
    topics: {
      name: 'recorder-topics',
      async start() {
        ownership = await attachRecorderInputs(options, deps);
      },
      async stop() {
        await publisher.flush();
        off();
      },
    },
    status: {
      name: 'recorder-status',
      async start() {
        publisher.bind(deps.bus());
        await deps.recorder.booted();
      },
      async stop() {},
    },
  };
}

/** Subscribes device ownership (share group), the recorder topics and Hermes frames; returns the ownership view. */
async function attachRecorderInputs(
  options: { prefix: string; hermes: boolean },
  deps: RecorderMqttDeps,
): Promise<DeviceOwnership | undefined> {
  const { log } = deps;
  const { recorder } = deps.recorder;
  const bus = deps.bus();
  const peers = deps.share?.peers();
  const view = peers
    ? await attachDeviceOwnership({
        bus,
        prefix: options.prefix,
        peers,
        log: log.child({ mod: 'ownership' }),
      })
    : undefined;
  const owns = view ? (device: string) => view.owns(device) : undefined;
  await attachRecorderTopics({
    bus,
    prefix: options.prefix,
    recorder,
    ...(owns && view ? { owns, formatOf: (device: string) => view.formatOf(device) } : {}),
    log: log.child({ mod: 'mqtt-recorder' }),
  });
  if (options.hermes) {
    const hermesLog = log.child({ mod: 'hermes-recorder' });
    await attachHermesRecorder({ bus, recorder, ...(owns ? { owns } : {}), log: hermesLog });
  }
  return view;
}
