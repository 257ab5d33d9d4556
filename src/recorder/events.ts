/**
 * The recorder domain's events, emitted through the hub's typed emitter (`shared/events.ts`) by the recorder's
 * builder (`build.ts`): the MQTT status publisher, the panel's event stream and the metrics listen.
 */
import type { DeviceStatus, RecorderTotals } from './status.js';

/** Event name → payload of the recorder's events. */
export interface RecorderEvents {
  /** A device's status changed (the `recorder/<device>/status` payload), at least every 2 s while recording. */
  recorder: DeviceStatus;
  /** The totals over every recording changed (the `recorder/status` payload). */
  recorderTotals: RecorderTotals;
}
