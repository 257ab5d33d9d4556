/**
 * The recorder assembled from its options slice: the recorder service and the Wyoming microphones it records
 * from. Statuses and totals go out as recorder events (`events.ts`) on the hub's emitter; the MQTT adapter
 * (`mqtt/recorder-adapter.ts`) publishes them and feeds MQTT and Hermes audio in.
 */
import type { Options } from '../config/schema.js';
import type { EventHub } from '../shared/events.js';
import type { Log } from '../shared/log.js';
import type { Service } from '../shared/service.js';
import type { RecorderEvents } from './events.js';
import { createRecordingOwner } from './owner-registry.js';
import { createRecorder, type Recorder } from './recorder.js';
import { createWyomingMic } from './wyoming-mic.js';

/** What the recorder is built from: option slices and where its files and URLs live. */
export interface RecorderBuildOptions {
  recorder: Options['recorder'];
  /** Wyoming microphone services to record from (option `microphones`). */
  microphones: Options['microphones'];
  shareDir: string;
  /** Makes `url` fields: `${baseUrl}/api/recordings/<id>/audio`. */
  baseUrl: string;
}

/** The recorder's collaborators. */
export interface RecorderBuildDeps {
  events: EventHub<RecorderEvents>;
  log: Log;
  /** In a share group: this hub's id (recordings are claimed on the share volume, owner-registry.ts). */
  hubId?: string;
}

/** The recorder as a service of the hub. */
export interface RecorderService extends Service {
  readonly recorder: Recorder;
  /** Resolves when what `start` began (recovery, then the microphones) is done; never rejects. */
  booted(): Promise<void>;
}

/**
 * Builds the recorder and its microphones; nothing runs until `start`. `start` begins recovering stale
 * recordings and returns at once (the hub connects MQTT meanwhile; `booted()` waits for it); then retention,
 * status and the Wyoming microphones run. A recorder that cannot start (share not writable) is logged and
 * refuses recordings; speech goes on. `stop` stops the microphones and finalizes every recording.
 */
export function buildRecorder(options: RecorderBuildOptions, deps: RecorderBuildDeps): RecorderService {
  const { log, events, hubId } = deps;
  const opts = options.recorder;
  const recorder = createRecorder({
    shareDir: options.shareDir,
    bitrateKbps: opts.bitrate_kbps,
    keepWav: opts.keep_wav,
    retentionDays: opts.retention_days,
    maxTotalMb: opts.max_total_mb,
    idleTimeoutMs: opts.idle_timeout_s * 1000,
    maxRecordings: opts.max_recordings,
    maxDurationMs: opts.max_duration_s * 1000,
    maxRecordingBytes: opts.max_recording_mb * 1024 * 1024,
    allowedDevices: opts.devices,
    publicUrl: (id) => `${options.baseUrl}/api/recordings/${id}/audio`,
    log,
    onStatus: (_device, payload) => events.emit('recorder', payload),
    onTotals: (payload) => events.emit('recorderTotals', payload),
    ...(hubId ? { owner: createRecordingOwner({ shareDir: options.shareDir, hubId, log }) } : {}),
  });
  const mics = options.microphones.map((m) =>
    createWyomingMic({ name: m.name, url: m.url, recorder, log, idleTimeoutMs: opts.idle_timeout_s * 1000 }),
  );
  let boot: Promise<void> = Promise.resolve();
  const run = async (signal?: AbortSignal): Promise<void> => {
    if (!(await startRecorder(recorder, log, signal))) return;
    for (const mic of mics) mic.start();
  };
  return {
    name: 'recorder',
    recorder,
    async start(signal) {
      boot = run(signal);
    },
    booted: () => boot,
    async stop() {
      await Promise.all(mics.map((m) => m.stop()));
      await recorder.stop();
    },
  };
}

/** Starts `recorder` (recovery, retention, status); false when it cannot start (logged). Never rejects. */
async function startRecorder(recorder: Recorder, log: Log, signal?: AbortSignal): Promise<boolean> {
  try {
    const outcome = await recorder.start(signal);
    if (outcome.recovered.length > 0 || outcome.failed.length > 0) {
      log.info(
        { recovered: outcome.recovered.length, failed: outcome.failed.length },
        'recordings recovered',
      );
    }
    return true;
  } catch (err) {
    // Speech goes on without the recorder; every recording is then refused with this error.
    log.error({ err: (err as Error).message }, 'recorder could not start; recordings are refused');
    return false;
  }
}
