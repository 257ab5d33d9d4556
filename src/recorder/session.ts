/**
 * One recording in progress: PCM goes to the WAV sidecar and to the live Opus encoder; closing finalizes the
 * Opus file atomically (fsync, rename `.partial.opus` → `.opus`), or encodes it from the sidecar when the live
 * encoder died, so nothing received is lost.
 */
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { relative } from 'node:path';
import { recordingFileEncoderArgs } from '../audio/ffmpeg-args.js';
import { type AudioFormat, bytesPerSecond } from '../audio/format.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { type RecordingEncoder, runFfmpegToEnd, startRecordingEncoder } from './encoder.js';
import { filePath, type RecordingLocation } from './names.js';
import { openSidecar, type Sidecar } from './sidecar.js';
import type { RecordingInfo, RecordingSource } from './status.js';

/** The handle an adapter (MQTT, Hermes, Wyoming mic) holds for one recording. */
export interface RecordingSession {
  readonly id: string;
  readonly device: string;
  readonly format: AudioFormat;
  readonly source: RecordingSource;
  /** False once the recording is closing (stop, idle timeout, error, recorder stop). */
  readonly active: boolean;
  /**
   * Appends PCM in `format` (any length; a partial frame is carried to the next write). Never waits.
   * @throws AppError CONFLICT when the recording has ended; CACHE_IO when more than the recorder's
   * `maxBufferedBytes` wait for the disk (the recording is then stopped with an error status).
   */
  write(pcm: Buffer): void;
  /** Ends the recording and resolves with the finished file. Safe to call more than once. */
  close(): Promise<RecordingInfo>;
}

/** How a session ended, for the recorder's index and status. */
export interface SessionEnd {
  info: RecordingInfo;
  /** True when the `.opus` was encoded from the sidecar. */
  fromSidecar: boolean;
  /** Why the recording stopped early or could not be finalized (then files stay for start-up recovery). */
  error?: AppError;
  /** True when no audio arrived: the files were deleted and nothing is kept. */
  discarded?: boolean;
}

/** What {@link startSession} needs. */
export interface SessionOptions {
  shareDir: string;
  loc: RecordingLocation;
  format: AudioFormat;
  source: RecordingSource;
  bitrateKbps: number;
  keepWav: boolean;
  /** Ends the recording after this long without audio; 0 disables. */
  idleTimeoutMs: number;
  /** Bound on PCM waiting for the sidecar and on the live encoder's lag, in bytes. */
  maxBufferedBytes: number;
  /** The recording ends (and is kept) once this many PCM bytes arrived (option `recorder.max_recording_mb`). */
  maxBytes: number;
  /** The recording ends (and is kept) once this much audio arrived, in ms (option `recorder.max_duration_s`). */
  maxDurationMs: number;
  /** The recording reached `maxBytes` or `maxDurationMs` (LIMIT_REACHED); it is closing. */
  onLimit?(err: AppError): void;
  log: Log;
  /** Something a status shows changed (encoder failure). */
  onChange(): void;
  /** The session has finished closing. Called exactly once. */
  onEnd(end: SessionEnd): void;
}

/** Converts a file-system error into DISK_FULL (ENOSPC) or CACHE_IO with the path. */
export function ioError(err: unknown, what: string): AppError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC')
    return new AppError('DISK_FULL', `disk full while writing ${what}; free space on the share`);
  return new AppError('CACHE_IO', `cannot write ${what}: ${(err as Error).message}`, { cause: err });
}

/**
 * Creates the folder, the sidecar and the live encoder of a new recording.
 * @throws AppError DISK_FULL / CACHE_IO when the files cannot be created; FFMPEG_NOT_FOUND.
 */
export async function startSession(opts: SessionOptions): Promise<LiveSession> {
  const sidecarPath = filePath(opts.loc, 'sidecar');
  let sidecar: Sidecar;
  try {
    await mkdir(opts.loc.dir, { recursive: true });
    sidecar = await openSidecar(sidecarPath, opts.format, (err) => session.fail(ioError(err, sidecarPath)));
  } catch (err) {
    throw ioError(err, sidecarPath);
  }
  let session: LiveSession;
  try {
    session = new LiveSession(opts, sidecar);
  } catch (err) {
    await sidecar.finish().catch(() => {});
    await unlink(sidecarPath).catch(() => {});
    throw err;
  }
  return session;
}

/** The recorder-side view of a session (more than adapters see). */
export class LiveSession implements RecordingSession {
  readonly id: string;
  readonly device: string;
  readonly format: AudioFormat;
  readonly source: RecordingSource;
  readonly startedAt: Date;
  /** Set when the recording stopped because of an error. */
  error: AppError | undefined;
  /** Started with the first audio: a recording that never gets any costs no ffmpeg. */
  private encoder: RecordingEncoder | undefined;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  private carry: Buffer | undefined;
  private received = 0;
  private closing: Promise<RecordingInfo> | undefined;

  constructor(
    private readonly opts: SessionOptions,
    private readonly sidecar: Sidecar,
  ) {
    this.id = opts.loc.id;
    this.device = opts.loc.device;
    this.format = opts.format;
    this.source = opts.source;
    this.startedAt = opts.loc.startedAt;
    if (opts.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.closeInBackground(), opts.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  get active(): boolean {
    return this.closing === undefined;
  }
  /** The live encoder's process id (undefined before the first audio, or while it waits for an ffmpeg slot). */
  get encoderPid(): number | undefined {
    return this.encoder?.pid;
  }
  /** Set while recording once the live encoder has died. */
  get encoderFailure(): AppError | undefined {
    return this.encoder?.failure;
  }
  /** The most PCM bytes this recording takes: `maxBytes` or `maxDurationMs` of audio, in whole frames. */
  private get limitBytes(): number {
    const frameBytes = this.format.widthBytes * this.format.channels;
    const byDuration = Math.floor((this.opts.maxDurationMs / 1000) * bytesPerSecond(this.format));
    const bytes = Math.min(this.opts.maxBytes, byDuration);
    return bytes - (bytes % frameBytes);
  }
  get partialPath(): string {
    return filePath(this.opts.loc, 'partial');
  }
  get finalPath(): string {
    return filePath(this.opts.loc, 'final');
  }
  /** Duration of the PCM received so far, in ms. */
  get durationMs(): number {
    return (this.received / bytesPerSecond(this.format)) * 1000;
  }

  write(pcm: Buffer): void {
    if (this.closing) {
      throw new AppError(
        'CONFLICT',
        `recording '${this.id}' of device '${this.device}' has ended; open a new one`,
      );
    }
    if (this.sidecar.pendingBytes > this.opts.maxBufferedBytes) {
      const err = new AppError(
        'CACHE_IO',
        `recording '${this.id}': more than ${this.opts.maxBufferedBytes} bytes wait for the disk; recording stopped`,
      );
      this.fail(err);
      throw err;
    }
    this.idleTimer?.refresh();
    const frameBytes = this.format.widthBytes * this.format.channels;
    const all = this.carry ? Buffer.concat([this.carry, pcm]) : pcm;
    const whole = all.length - (all.length % frameBytes);
    this.carry = whole < all.length ? Buffer.from(all.subarray(whole)) : undefined;
    if (whole === 0) return;
    const room = this.limitBytes - this.received;
    const frames = all.subarray(0, Math.min(whole, room));
    if (frames.length > 0) {
      this.received += frames.length;
      this.sidecar.append(frames);
      this.liveEncoder().write(frames);
    }
    if (whole >= room) this.reachLimit();
  }

  /** The live encoder, started on first use; a start that fails is an encoder failure (the sidecar goes on). */
  private liveEncoder(): RecordingEncoder {
    this.encoder ??= startRecordingEncoder({
      format: this.format,
      bitrateKbps: this.opts.bitrateKbps,
      outPath: this.partialPath,
      maxLagBytes: this.opts.maxBufferedBytes,
      onFailure: (err) => {
        this.opts.log.warn(
          { id: this.id, device: this.device, err: err.message },
          'live encoder failed; using sidecar',
        );
        this.opts.onChange();
      },
    });
    return this.encoder;
  }

  /** Ends the recording at its size or duration limit; what arrived is kept. */
  private reachLimit(): void {
    const { maxBytes, maxDurationMs } = this.opts;
    const bySize = this.received >= maxBytes;
    const err = new AppError(
      'LIMIT_REACHED',
      bySize
        ? `recording '${this.id}' reached ${Math.round(maxBytes / 1048576)} MiB (recorder.max_recording_mb); it was ended and kept; send start to record again`
        : `recording '${this.id}' reached ${Math.round(maxDurationMs / 1000)} s (recorder.max_duration_s); it was ended and kept; send start to record again`,
    );
    this.error ??= err;
    this.opts.log.warn({ id: this.id, device: this.device, code: err.code }, 'recording limit reached');
    this.opts.onLimit?.(err);
    this.closeInBackground();
  }

  /** Stops the recording because of `err` (disk full, overload); the files keep what was received. */
  fail(err: AppError): void {
    if (this.closing) return;
    this.error ??= err;
    this.opts.log.error(
      { id: this.id, device: this.device, code: err.code, err: err.message },
      'recording failed',
    );
    this.closeInBackground();
  }

  /** Closes without a caller to await it (idle timeout, failure); an unexpected error is logged, never thrown. */
  private closeInBackground(): void {
    this.close().catch((err: unknown) => {
      this.opts.log.error(
        { id: this.id, device: this.device, err: (err as Error).message },
        'closing failed',
      );
    });
  }

  close(): Promise<RecordingInfo> {
    this.closing ??= this.finalize();
    return this.closing;
  }

  private async finalize(): Promise<RecordingInfo> {
    clearTimeout(this.idleTimer);
    const sidecarPath = filePath(this.opts.loc, 'sidecar');
    if (this.encoder === undefined) return this.discard(sidecarPath);
    let sidecarOk = true;
    try {
      await this.sidecar.finish();
    } catch (err) {
      sidecarOk = false;
      this.error ??= ioError(err, sidecarPath);
    }
    let fromSidecar = false;
    let finished = false;
    try {
      await this.liveEncoder().finish();
      await fsyncFile(this.partialPath);
      await rename(this.partialPath, this.finalPath);
      finished = true;
    } catch (err) {
      if (sidecarOk) {
        fromSidecar = true;
        finished = await this.encodeSidecar(sidecarPath);
      } else {
        this.error ??= toAppError(err, 'FFMPEG_FAILED');
      }
    }
    if (finished && sidecarOk && !this.opts.keepWav) await unlink(sidecarPath).catch(() => {});
    const info = await this.describe(finished);
    this.opts.onEnd({ info, fromSidecar, ...(this.error ? { error: this.error } : {}) });
    return info;
  }

  /** Ends a recording that got no audio: its files are deleted, nothing is kept. */
  private async discard(sidecarPath: string): Promise<RecordingInfo> {
    await this.sidecar.finish().catch(() => {});
    await unlink(sidecarPath).catch(() => {});
    await unlink(this.partialPath).catch(() => {});
    const info = await this.describe(false);
    this.opts.onEnd({
      info,
      fromSidecar: false,
      discarded: true,
      ...(this.error ? { error: this.error } : {}),
    });
    return info;
  }

  /** Encodes the finished sidecar to a temp file, then renames it over the final name and drops the partial. */
  private async encodeSidecar(sidecarPath: string): Promise<boolean> {
    const temp = filePath(this.opts.loc, 'temp');
    try {
      await runFfmpegToEnd(recordingFileEncoderArgs(sidecarPath, this.opts.bitrateKbps, temp));
      await fsyncFile(temp);
      await rename(temp, this.finalPath);
      await unlink(this.partialPath).catch(() => {});
      return true;
    } catch (err) {
      this.error ??= toAppError(err, 'FFMPEG_FAILED');
      await unlink(temp).catch(() => {});
      return false;
    }
  }

  private async describe(finished: boolean): Promise<RecordingInfo> {
    const path = finished ? this.finalPath : this.partialPath;
    const bytes = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    return {
      id: this.id,
      device: this.device,
      path,
      file: relative(this.opts.shareDir, path),
      inProgress: false,
      bytes,
      durationMs: Math.round(this.durationMs),
      startedAt: this.startedAt,
      endedAt: new Date(),
    };
  }
}

/** fsyncs a file so a rename after it is durable. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
