/**
 * The recorder service: the one place every recording source (MQTT `recorder/<device>/start|audio|stop`, Hermes
 * `audioFrame`, a Wyoming microphone) feeds through `open(device, format)` → `write(pcm)` → `close()`.
 * It recovers stale recordings at start, keeps the index of finished ones, reports status, and prunes.
 */
import { createReadStream } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { type ScheduledTask, schedule } from 'node-cron';
import { type AudioFormat, MIC_FORMAT } from '../audio/format.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { scanRecordingFiles } from './catalog.js';
import { FinishedRecordings, type PruneResult } from './finished.js';
import { followStream } from './follow.js';
import { LiveStatus } from './live-status.js';
import { checkDevice, checkFormat, checkId, locate, newRecordingId, recordingsRoot } from './names.js';
import type { RecordingOwner } from './owner-registry.js';
import { type RecoveryOutcome, recoverStale } from './recovery.js';
import { type LiveSession, type RecordingSession, type SessionEnd, startSession } from './session.js';
import {
  compareRows,
  type DeviceStatus,
  type RecorderTotals,
  type RecordingInfo,
  type RecordingRow,
  type RecordingSource,
  toRow,
} from './status.js';

/** What {@link createRecorder} needs: the `recorder` options slice plus collaborators. */
export interface RecorderOptions {
  /** The share dir; recordings go to `<shareDir>/recordings`. */
  shareDir: string;
  /** Opus bitrate in kbit/s (option `recorder.bitrate_kbps`). */
  bitrateKbps: number;
  /** Keep the WAV sidecar beside the finished `.opus` (option `recorder.keep_wav`). */
  keepWav: boolean;
  /** Delete recordings older than this many days; 0 keeps them (option `recorder.retention_days`). */
  retentionDays: number;
  /** Keep all recordings under this many MiB, deleting the oldest; 0 disables (option `recorder.max_total_mb`). */
  maxTotalMb: number;
  /** URL of `GET /api/recordings/<id>/audio` for a recording id. */
  publicUrl: (id: string) => string;
  log: Log;
  /** Publish `recorder/<device>/status` (retained). Called on every change and every `statusIntervalMs` while recording. */
  onStatus: (device: string, payload: DeviceStatus) => void;
  /** Publish `recorder/status` (retained). Called after every device status round. */
  onTotals?: (payload: RecorderTotals) => void;
  /** A recording with no audio for this long ends; 0 disables. Default 10 000 ms. */
  idleTimeoutMs?: number;
  /** Status period while recording, in ms. Default 1000 (DESIGN: at least every 2 s). */
  statusIntervalMs?: number;
  /** Bound on PCM buffered per recording (waiting for the disk or for ffmpeg), in bytes. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Recordings in progress at once (option `recorder.max_recordings`). Default 24. */
  maxRecordings?: number;
  /** A recording ends (kept) after this much audio, in ms (option `recorder.max_duration_s`). Default 1 h. */
  maxDurationMs?: number;
  /** A recording ends (kept) after this many PCM bytes (option `recorder.max_recording_mb`). Default 200 MiB. */
  maxRecordingBytes?: number;
  /** Device names allowed to record (option `recorder.devices`); empty or absent: any valid name. */
  allowedDevices?: readonly string[];
  /** node-cron expression of the retention run. Default hourly, `'17 * * * *'`. */
  pruneCron?: string;
  /**
   * Several hubs on one share volume: which recordings in progress are this hub's (owner-registry.ts), so
   * its start-up recovery never touches another hub's recording. Absent: every stale recording is recovered.
   */
  owner?: RecordingOwner;
}

/** Per-recording choices of {@link Recorder.open}. */
export interface OpenOptions {
  /** The recording id (checked like a device name); default a fresh random id. */
  id?: string;
  /** Which adapter feeds it (shown in the status). Default 'other'. */
  source?: RecordingSource;
  /**
   * True for an explicit start (MQTT `start`): it may begin a new recording on a device whose last one ended at
   * its size or duration limit. Implicit opens (audio without start, Hermes frames, Wyoming mics) are refused
   * with LIMIT_REACHED for such a device until it has been silent for the idle timeout.
   */
  explicit?: boolean;
  /** Overrides the recorder's idle timeout for this recording, in ms; 0 disables. */
  idleTimeoutMs?: number;
}

/** The audio of one recording for `GET /api/recordings/<id>/audio`. */
export interface RecordingAudio {
  info: RecordingInfo;
  contentType: 'audio/ogg';
  /**
   * The Ogg Opus bytes. In progress: the partial file from its start, following new pages until the recording
   * ends (chunked; no length). Finished: the whole file (`info.path`, `info.bytes`; serve Range from the path).
   */
  body: Readable;
}

/** The recorder service. */
export interface Recorder {
  /**
   * Recovers stale recordings, loads the index, schedules retention and starts status reporting.
   * @returns what recovery did. Aborting `signal` stops recovery early.
   */
  start(signal?: AbortSignal): Promise<RecoveryOutcome>;
  /** Refuses new recordings, finalizes every open one, stops timers and the cron job. */
  stop(): Promise<void>;
  /**
   * Starts a recording of `device` (ending the one it has in progress first). Default format: 16 kHz s16le mono.
   * Refusals of a bad format, id or disk show in the device's status; refusals by a cap or the allowlist are
   * only logged (once per device), so a flood of device names creates no per-device state.
   * @throws AppError INVALID_DEVICE (bad name, or not in `allowedDevices`); BAD_PAYLOAD (bad id or format);
   * LIMIT_REACHED (`maxRecordings` in progress, or the device's last recording ended at its limit);
   * CONFLICT (id in use); SHUTTING_DOWN; DISK_FULL / STORAGE_IO (files cannot be created).
   */
  open(device: string, format?: AudioFormat, opts?: OpenOptions): Promise<RecordingSession>;
  /** The recording in progress on `device`, if any (adapters route `audio` messages with it). */
  active(device: string): RecordingSession | undefined;
  /** Rows of `GET /api/recordings`: in-progress first, then newest first. */
  list(): Promise<RecordingRow[]>;
  /**
   * One recording (`path` is the file to serve: the partial file while recording).
   * @throws AppError BAD_PAYLOAD (bad id) or NOT_FOUND.
   */
  get(id: string): Promise<RecordingInfo>;
  /**
   * Opens a recording's audio; a recording in progress is followed live until it ends. Aborting `signal`
   * ends the body.
   * @throws AppError BAD_PAYLOAD or NOT_FOUND.
   */
  audio(id: string, signal?: AbortSignal): Promise<RecordingAudio>;
  /**
   * Deletes a finished recording and its sidecar.
   * @throws AppError BAD_PAYLOAD, NOT_FOUND, or CONFLICT while it is in progress.
   */
  delete(id: string): Promise<void>;
  /** The `recorder/<device>/status` payload now. @throws AppError INVALID_DEVICE. */
  deviceStatus(device: string): DeviceStatus;
  /**
   * Shows `error` in `device`'s status (state `error` until its next recording) and publishes it; adapters call
   * it for input they refuse (a bad `start` payload). @throws AppError INVALID_DEVICE.
   */
  reportError(device: string, error: AppError): void;
  /** The `recorder/status` payload now (disk free space from fs.statfs). */
  totals(): Promise<RecorderTotals>;
  /** Applies retention now (the cron job calls this); never touches a recording in progress. */
  prune(now?: Date): Promise<PruneResult>;
}

/** Creates the recorder; nothing runs until `start()`. */
export function createRecorder(opts: RecorderOptions): Recorder {
  return new RecorderService(opts);
}

class RecorderService implements Recorder {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly finished: FinishedRecordings;
  private readonly status: LiveStatus;
  private readonly log: Log;
  private readonly opening = new Map<string, Promise<unknown>>();
  /** Devices whose last recording ended at a limit, until a `start` or `idleTimeoutMs` of silence. */
  private readonly held = new Map<string, NodeJS.Timeout>();
  private readonly allowed: ReadonlySet<string> | undefined;
  private readonly refusals = new Map<string, string>();
  private cron: ScheduledTask | undefined;
  private started: Promise<RecoveryOutcome> | undefined;
  private stopping = false;

  constructor(private readonly opts: RecorderOptions) {
    this.log = opts.log.child({ mod: 'recorder' });
    this.allowed = opts.allowedDevices?.length ? new Set(opts.allowedDevices) : undefined;
    this.finished = new FinishedRecordings(this.log);
    this.status = new LiveStatus({
      sessions: this.sessions,
      shareDir: opts.shareDir,
      publicUrl: opts.publicUrl,
      intervalMs: opts.statusIntervalMs ?? 1000,
      log: this.log,
      onStatus: opts.onStatus,
      onTotals: opts.onTotals,
      totals: () => this.totals(),
    });
  }

  start(signal?: AbortSignal): Promise<RecoveryOutcome> {
    this.started ??= this.boot(signal);
    return this.started;
  }

  private async boot(signal?: AbortSignal): Promise<RecoveryOutcome> {
    await mkdir(recordingsRoot(this.opts.shareDir), { recursive: true });
    const entries = await scanRecordingFiles(this.opts.shareDir);
    const { bitrateKbps, keepWav, shareDir } = this.opts;
    const mine = this.opts.owner ? await this.opts.owner.claimable(entries) : entries;
    const outcome = await recoverStale(mine, { shareDir, bitrateKbps, keepWav, log: this.log, signal });
    await this.finished.load(shareDir, entries);
    for (const { info, fromSidecar } of outcome.recovered) {
      this.finished.add(info);
      this.status.ended(info, { fromSidecar, recovered: true });
    }
    for (const failure of outcome.failed) this.status.failed(failure.device, failure.error);
    this.cron = schedule(this.opts.pruneCron ?? '17 * * * *', () => this.prune(), {
      name: 'recorder-retention',
      noOverlap: true,
    });
    await this.prune();
    this.status.start();
    return outcome;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.held.values()) clearTimeout(timer);
    this.held.clear();
    await this.cron?.destroy();
    this.cron = undefined;
    await Promise.allSettled([...this.opening.values()]);
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
    this.status.stop();
    await this.status.publishTotals();
  }

  async open(
    device: string,
    format: AudioFormat = MIC_FORMAT,
    opts: OpenOptions = {},
  ): Promise<RecordingSession> {
    checkDevice(device);
    try {
      return await this.openChecked(device, format, opts);
    } catch (err) {
      // Every refusal of a valid device but a cap's shows in its status (a bad format, a full disk, a clash of ids).
      const error = toAppError(err, 'STORAGE_IO');
      const capped = error.code === 'LIMIT_REACHED' || error.code === 'INVALID_DEVICE';
      if (!this.stopping && !capped) this.status.failed(device, error);
      throw error;
    }
  }

  /**
   * The allowlist, a device held after a limit, and the cap on recordings at once; a refusal is logged once
   * per device and reason (bounded memory), and never published (it would create a retained topic per name).
   * @throws AppError INVALID_DEVICE or LIMIT_REACHED.
   */
  private checkCaps(device: string, opts: OpenOptions): void {
    let refusal: AppError | undefined;
    if (this.allowed && !this.allowed.has(device)) {
      refusal = new AppError(
        'INVALID_DEVICE',
        `device '${device}' may not record: it is not in recorder.devices`,
      );
    } else if (this.held.has(device) && !opts.explicit) {
      this.hold(device);
      refusal = new AppError(
        'LIMIT_REACHED',
        `device '${device}': its last recording reached its size or duration limit; send start to record again`,
      );
    } else {
      const max = this.opts.maxRecordings ?? 24;
      const busy = new Set([...this.sessions.keys(), ...this.opening.keys()]);
      if (!busy.has(device) && busy.size >= max) {
        refusal = new AppError(
          'LIMIT_REACHED',
          `recording of device '${device}' refused: ${max} recordings are in progress (recorder.max_recordings)`,
        );
      }
    }
    if (!refusal) {
      this.refusals.delete(device);
      if (opts.explicit) this.release(device);
      return;
    }
    if (this.refusals.get(device) !== refusal.message) {
      if (this.refusals.size >= 1000) this.refusals.clear();
      this.refusals.set(device, refusal.message);
      this.log.warn({ device, code: refusal.code, err: refusal.message }, 'recording refused');
    }
    throw refusal;
  }

  /** Holds `device` after a limit until its audio has been silent for the idle timeout (or a `start`). */
  private hold(device: string): void {
    clearTimeout(this.held.get(device));
    if (this.held.size >= 1000) this.held.clear();
    const idleMs = this.opts.idleTimeoutMs ?? 10_000;
    const timer = setTimeout(() => this.held.delete(device), idleMs > 0 ? idleMs : 2 ** 31 - 1);
    timer.unref();
    this.held.set(device, timer);
  }

  private release(device: string): void {
    clearTimeout(this.held.get(device));
    this.held.delete(device);
  }

  private async openChecked(
    device: string,
    format: AudioFormat,
    opts: OpenOptions,
  ): Promise<RecordingSession> {
    checkFormat(format);
    const id = opts.id === undefined ? newRecordingId() : checkId(opts.id);
    if (this.stopping) throw new AppError('SHUTTING_DOWN', 'the recorder is stopping; recording refused');
    if (!this.started) throw new AppError('INTERNAL', 'recorder.open() called before start()');
    await this.started;
    // Checked and reserved (in `opening`) in one synchronous step, so concurrent opens cannot pass the cap together.
    this.checkCaps(device, opts);
    // One open at a time per device, so "end the current recording, start the next" stays ordered.
    const previous = this.opening.get(device) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.openNow(device, format, id, opts));
    this.opening.set(device, next);
    try {
      return await next;
    } finally {
      if (this.opening.get(device) === next) this.opening.delete(device);
    }
  }

  private async openNow(
    device: string,
    format: AudioFormat,
    id: string,
    opts: OpenOptions,
  ): Promise<LiveSession> {
    await this.sessions.get(device)?.close();
    if (this.stopping) throw new AppError('SHUTTING_DOWN', 'the recorder is stopping; recording refused');
    if (this.finished.has(id) || this.sessionOf(id))
      throw new AppError('CONFLICT', `recording id '${id}' is already in use; pick another or omit it`);
    const loc = locate(this.opts.shareDir, device, id, new Date());
    await this.opts.owner?.opened(loc);
    const session = await startSession({
      shareDir: this.opts.shareDir,
      loc,
      format,
      source: opts.source ?? 'other',
      bitrateKbps: this.opts.bitrateKbps,
      keepWav: this.opts.keepWav,
      idleTimeoutMs: opts.idleTimeoutMs ?? this.opts.idleTimeoutMs ?? 10_000,
      maxBufferedBytes: this.opts.maxBufferedBytes ?? 4 * 1024 * 1024,
      maxBytes: this.opts.maxRecordingBytes ?? 200 * 1024 * 1024,
      maxDurationMs: this.opts.maxDurationMs ?? 3_600_000,
      onLimit: () => this.hold(device),
      log: this.log,
      onChange: () => this.status.publish(device),
      onEnd: (end) => {
        // A recording that could not be finalized stays listed: its hub recovers it at its next start.
        if (!end.info.path.endsWith('.partial.opus')) this.opts.owner?.closed(loc);
        this.onEnd(session, end);
      },
    });
    this.sessions.set(device, session);
    this.log.info({ device, id, source: session.source, format }, 'recording started');
    this.status.publish(device);
    return session;
  }

  private onEnd(session: LiveSession, end: SessionEnd): void {
    if (this.sessions.get(session.device) === session) this.sessions.delete(session.device);
    const { info, fromSidecar, error } = end;
    if (end.discarded) {
      // No audio: no file is kept, the device's last recording stays what it was.
      this.log.info({ device: info.device, id: info.id }, 'recording without audio discarded');
      this.status.publish(info.device);
      return;
    }
    this.log.info(
      { device: info.device, id: info.id, ms: info.durationMs, bytes: info.bytes },
      'recording ended',
    );
    // A recording that could not be finalized stays on disk as partial + sidecar for start-up recovery.
    if (info.path.endsWith('.opus') && !info.path.endsWith('.partial.opus')) this.finished.add(info);
    this.status.ended(info, { fromSidecar, recovered: false }, error);
  }

  /** The session in progress with recording id `id`, if any. */
  private sessionOf(id: string): LiveSession | undefined {
    return [...this.sessions.values()].find((s) => s.id === id);
  }

  active(device: string): RecordingSession | undefined {
    const session = this.sessions.get(device);
    return session?.active ? session : undefined;
  }

  async list(): Promise<RecordingRow[]> {
    const all = [...(await this.status.liveInfos()), ...this.finished.values()];
    return all.sort(compareRows).map((info) => toRow(info, this.opts.publicUrl(info.id)));
  }

  async get(id: string): Promise<RecordingInfo> {
    checkId(id);
    const live = (await this.status.liveInfos()).find((info) => info.id === id);
    const info = live ?? this.finished.get(id);
    if (!info) throw new AppError('NOT_FOUND', `recording '${id}' not found`);
    return info;
  }

  async audio(id: string, signal?: AbortSignal): Promise<RecordingAudio> {
    const info = await this.get(id);
    const session = this.sessionOf(id);
    const body = session
      ? followStream(info.path, () => session.active, signal)
      : createReadStream(info.path, { signal });
    return { info, contentType: 'audio/ogg', body };
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    if (this.sessionOf(id)) {
      throw new AppError('CONFLICT', `recording '${id}' is in progress; stop it before deleting`);
    }
    const info = this.finished.get(id);
    if (!info) throw new AppError('NOT_FOUND', `recording '${id}' not found`);
    await this.finished.remove(info);
    this.status.publish(info.device);
    await this.status.publishTotals();
  }

  deviceStatus(device: string): DeviceStatus {
    return this.status.device(checkDevice(device));
  }

  reportError(device: string, error: AppError): void {
    this.status.failed(checkDevice(device), error);
  }

  async totals(): Promise<RecorderTotals> {
    const free = await statfs(this.opts.shareDir).then(
      (s) => s.bavail * s.bsize,
      () => -1,
    );
    return {
      recording: this.sessions.size,
      recordings: this.finished.size,
      total_bytes: this.finished.bytes + this.status.liveBytes(),
      disk_free_bytes: free,
    };
  }

  async prune(now = new Date()): Promise<PruneResult> {
    const { retentionDays, maxTotalMb } = this.opts;
    const result = await this.finished.prune({ retentionDays, maxTotalMb }, now, this.status.liveBytes());
    if (result.deleted.length > 0) await this.status.publishTotals();
    return result;
  }
}
