/**
 * Status reporting of the recorder: the live size of every partial file (refreshed each `intervalMs`), the last
 * recording and the last error of each device, and the calls to `onStatus` / `onTotals`. A throwing listener is
 * logged, never fatal.
 */
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppError, type ErrorBody, errorBody } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { LiveSession } from './session.js';
import {
  type DeviceStatus,
  idleStatus,
  type LastRecording,
  type RecorderTotals,
  type RecordingInfo,
} from './status.js';

/** What {@link LiveStatus} reads and calls. */
export interface LiveStatusOptions {
  /** The recorder's sessions in progress, by device (read only). */
  sessions: ReadonlyMap<string, LiveSession>;
  shareDir: string;
  publicUrl: (id: string) => string;
  intervalMs: number;
  log: Log;
  onStatus: (device: string, payload: DeviceStatus) => void;
  onTotals?: (payload: RecorderTotals) => void;
  totals: () => Promise<RecorderTotals>;
}

/** How often the totals (`recorder/status`: recordings size, free disk) are refreshed without recordings, in ms. */
export const TOTALS_INTERVAL_MS = 60_000;

const ENCODER_WARNING =
  'live encoder stopped; audio goes on into the WAV sidecar and is encoded when recording ends';

/** Keeps and publishes the recorder's status. */
export class LiveStatus {
  private readonly bytes = new Map<string, number>();
  private readonly last = new Map<string, LastRecording>();
  private readonly errors = new Map<string, ErrorBody>();
  private timer: NodeJS.Timeout | undefined;
  private totalsTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private measuring: Promise<void> | undefined;

  constructor(private readonly opts: LiveStatusOptions) {}

  /**
   * Starts the periodic status round, publishes the totals at once (a fresh hub's dashboard sensors must not
   * stay unknown until a recording ends) and refreshes them every TOTALS_INTERVAL_MS (free space changes
   * without recordings too).
   */
  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
    if (!this.totalsTimer) {
      this.totalsTimer = setInterval(() => void this.publishTotals(), TOTALS_INTERVAL_MS);
      this.totalsTimer.unref();
      void this.publishTotals();
    }
  }

  /** Stops the periodic status round. */
  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.totalsTimer);
    this.timer = undefined;
    this.totalsTimer = undefined;
  }

  /** The status payload of `device` now. */
  device(device: string): DeviceStatus {
    const session = this.opts.sessions.get(device);
    const last = this.last.get(device);
    if (!session) return idleStatus(device, last, this.errors.get(device));
    const status: DeviceStatus = {
      device,
      state: 'recording',
      in_progress: true,
      id: session.id,
      file: relative(this.opts.shareDir, session.partialPath),
      url: this.opts.publicUrl(session.id),
      bytes: this.bytes.get(session.id) ?? 0,
      duration_ms: Math.round(session.durationMs),
      started_at: session.startedAt.toISOString(),
      source: session.source,
    };
    if (session.encoderFailure) status.warning = ENCODER_WARNING;
    if (last) status.last = last;
    return status;
  }

  /** Publishes `device`'s status; a new recording clears the device's previous error. */
  publish(device: string): void {
    if (this.opts.sessions.has(device)) this.errors.delete(device);
    try {
      this.opts.onStatus(device, this.device(device));
    } catch (err) {
      this.opts.log.error({ device, err: (err as Error).message }, 'status listener failed');
    }
  }

  /** Publishes the totals. Never rejects. */
  async publishTotals(): Promise<void> {
    if (!this.opts.onTotals) return;
    try {
      this.opts.onTotals(await this.opts.totals());
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'totals listener failed');
    }
  }

  /** Records a finished (or recovered, or failed) recording as the device's last, then publishes. */
  ended(info: RecordingInfo, how: { fromSidecar: boolean; recovered: boolean }, error?: AppError): void {
    this.bytes.delete(info.id);
    const last: LastRecording = {
      id: info.id,
      file: info.file,
      bytes: info.bytes,
      duration_ms: Math.round(info.durationMs),
      ended_at: (info.endedAt ?? new Date()).toISOString(),
    };
    if (how.fromSidecar) last.from_sidecar = true;
    if (how.recovered) last.recovered = true;
    this.last.set(info.device, last);
    if (error) this.errors.set(info.device, errorBody(error));
    this.publish(info.device);
    void this.publishTotals();
  }

  /** Marks `device` as in error (e.g. a recovery that failed) and publishes. */
  failed(device: string, error: AppError): void {
    this.errors.set(device, errorBody(error));
    this.publish(device);
  }

  /** Bytes of all partial files now (as of the last round). */
  liveBytes(): number {
    let sum = 0;
    for (const session of this.opts.sessions.values()) sum += this.bytes.get(session.id) ?? 0;
    return sum;
  }

  /** The recordings in progress with their partial file's size measured now. */
  async liveInfos(): Promise<RecordingInfo[]> {
    await this.measure();
    return [...this.opts.sessions.values()].map((s) => ({
      id: s.id,
      device: s.device,
      path: s.partialPath,
      file: relative(this.opts.shareDir, s.partialPath),
      inProgress: true,
      bytes: this.bytes.get(s.id) ?? 0,
      durationMs: s.durationMs,
      startedAt: s.startedAt,
    }));
  }

  private async measure(): Promise<void> {
    await Promise.all(
      [...this.opts.sessions.values()].map(async (s) => {
        const size = await stat(s.partialPath).then(
          (st) => st.size,
          () => undefined,
        );
        if (size !== undefined && s.active) this.bytes.set(s.id, size);
      }),
    );
  }

  /**
   * One status round. The sizes are measured first, but a round never waits on the disk for more than half
   * the interval: with many recordings closing at once, fsyncs fill libuv's thread pool and a `stat` can wait
   * behind them; the round then publishes the last sizes known, so status still comes every interval.
   */
  private async tick(): Promise<void> {
    if (this.ticking || this.opts.sessions.size === 0) return;
    this.ticking = true;
    try {
      if (!this.measuring) {
        this.measuring = this.measure().finally(() => {
          this.measuring = undefined;
        });
      }
      await Promise.race([this.measuring, sleep(this.opts.intervalMs / 2, undefined, { ref: false })]);
      for (const device of this.opts.sessions.keys()) this.publish(device);
    } finally {
      this.ticking = false;
    }
    // Not awaited for the same reason: fs.statfs may wait on the thread pool too.
    void this.publishTotals();
  }
}
