/**
 * Wire shapes of the recorder (DESIGN "Public contract"): rows of `GET /api/recordings`, the retained
 * `recorder/<device>/status` and `recorder/status` payloads. snake_case, ready to publish as JSON.
 */
import type { ErrorBody } from '../shared/errors.js';

/** Which adapter feeds a recording. */
export type RecordingSource = 'mqtt' | 'hermes' | 'wyoming' | 'other';

/** One recording, finished or in progress (domain shape, camelCase). */
export interface RecordingInfo {
  id: string;
  device: string;
  /** Absolute path of the file that plays now: `.partial.opus` while recording, `.opus` after. */
  path: string;
  /** The same path relative to the share dir, e.g. `recordings/kitchen/2026-01-31/08-15-00_ab12.opus`. */
  file: string;
  inProgress: boolean;
  /** File size in bytes (the partial file's live size while recording). */
  bytes: number;
  durationMs: number;
  startedAt: Date;
  endedAt?: Date;
}

/** A row of `GET /api/recordings` `{recordings: [...]}`. Times are ISO 8601 UTC. */
export interface RecordingRow {
  id: string;
  device: string;
  file: string;
  url: string;
  in_progress: boolean;
  bytes: number;
  duration_ms: number;
  started_at: string;
  ended_at?: string;
}

/** The last finished recording of a device, in its status. */
export interface LastRecording {
  id: string;
  file: string;
  bytes: number;
  duration_ms: number;
  ended_at: string;
  /** True when the Opus file was encoded from the WAV sidecar (the live encoder died, or after a crash). */
  from_sidecar?: boolean;
  /** True when it was recovered at start-up from a stale `.partial.opus`. */
  recovered?: boolean;
}

/** Payload of the retained `recorder/<device>/status` topic. */
export interface DeviceStatus {
  device: string;
  state: 'recording' | 'idle' | 'error';
  in_progress: boolean;
  id: string | null;
  file: string | null;
  url: string | null;
  bytes: number;
  duration_ms: number;
  started_at: string | null;
  /** Source of the current recording. */
  source?: RecordingSource;
  /** Set while recording when the live encoder died: the audio goes on into the sidecar and is encoded at the end. */
  warning?: string;
  last?: LastRecording;
  error?: ErrorBody;
}

/** Payload of the retained `recorder/status` topic. */
export interface RecorderTotals {
  /** Recordings in progress. */
  recording: number;
  /** Finished recordings on disk. */
  recordings: number;
  /** Bytes of all recordings on disk, in progress included. */
  total_bytes: number;
  /** Free bytes on the share volume (fs.statfs), or -1 when unknown. */
  disk_free_bytes: number;
}

/** The row of `info` for `GET /api/recordings`. */
export function toRow(info: RecordingInfo, url: string): RecordingRow {
  const row: RecordingRow = {
    id: info.id,
    device: info.device,
    file: info.file,
    url,
    in_progress: info.inProgress,
    bytes: info.bytes,
    duration_ms: Math.round(info.durationMs),
    started_at: info.startedAt.toISOString(),
  };
  if (info.endedAt) row.ended_at = info.endedAt.toISOString();
  return row;
}

/** Orders rows for listing: in-progress first, then newest first. */
export function compareRows(a: RecordingInfo, b: RecordingInfo): number {
  if (a.inProgress !== b.inProgress) return a.inProgress ? -1 : 1;
  return b.startedAt.getTime() - a.startedAt.getTime() || a.id.localeCompare(b.id);
}

/** The status of a device with no recording in progress. */
export function idleStatus(device: string, last?: LastRecording, error?: ErrorBody): DeviceStatus {
  const status: DeviceStatus = {
    device,
    state: error ? 'error' : 'idle',
    in_progress: false,
    id: null,
    file: null,
    url: null,
    bytes: 0,
    duration_ms: 0,
    started_at: null,
  };
  if (last) status.last = last;
  if (error) status.error = error;
  return status;
}
