/**
 * The recorder domain's public surface, for `main.ts` and the MQTT/HTTP/Wyoming adapters: one service
 * (`createRecorder`), the session handle adapters write to, and the wire shapes of its status and rows.
 */

export type { PruneResult } from './finished.js';
export { MAX_CHANNELS, MAX_RATE_HZ, NAME_PATTERN } from './names.js';
export type {
  OpenOptions,
  Recorder,
  RecorderOptions,
  RecordingAudio,
} from './recorder.js';
export { createRecorder } from './recorder.js';
export type { RecoveryOutcome } from './recovery.js';
export type { RecordingSession } from './session.js';
export type {
  DeviceStatus,
  LastRecording,
  RecorderTotals,
  RecordingInfo,
  RecordingRow,
  RecordingSource,
} from './status.js';
