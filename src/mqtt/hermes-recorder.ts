/**
 * Hermes microphone input of the recorder: `hermes/audioServer/<siteId>/audioFrame` messages, each a small WAV
 * file (protocol source: rhasspy/rhasspy-hermes `rhasspyhermes/audioserver.py`, class `AudioFrame`: topic
 * `hermes/audioServer/{site_id}/audioFrame`, payload `wav_bytes`). The site id is the device; a recording starts
 * on the first frame and ends after `idleTimeoutMs` without frames. A frame in another format starts a new one.
 */
import { sameFormat } from '../audio/format.js';
import { parseWavBuffer } from '../audio/wav.js';
import type { Recorder } from '../recorder/index.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import type { MqttBus } from './client.js';
import { DeviceQueue, deviceNameGuard, RefusalMemo } from './device-queue.js';
import { siteOf } from './hermes-adapter.js';

/** The audioFrame topic filter (Hermes topics are fixed; they are not configurable). */
export const HERMES_AUDIO_FRAME_FILTER = 'hermes/audioServer/+/audioFrame';

/** Default silence that ends a Hermes recording, in ms (satellites stream frames every ~64 ms). */
export const HERMES_IDLE_TIMEOUT_MS = 2000;

/**
 * Subscribes the audioFrame topic at QoS 0 (what Hermes satellites publish at) and records each site's frames.
 * Frames of a site are handled strictly in order; a frame that is not WAV is logged once per site and error,
 * and shown in the site's status; nothing here throws into mqtt.js.
 * @returns `idle()`: resolves once every frame received so far is handled.
 */
export async function attachHermesRecorder(opts: {
  bus: MqttBus;
  recorder: Recorder;
  log: Log;
  idleTimeoutMs?: number;
  /** In a share group: whether this hub records the site (device-ownership.ts); frames of others are dropped. */
  owns?: (siteId: string) => boolean;
}): Promise<{ idle(): Promise<void> }> {
  const { recorder, log } = opts;
  const idleTimeoutMs = opts.idleTimeoutMs ?? HERMES_IDLE_TIMEOUT_MS;
  const queue = new DeviceQueue(log);
  const validName = deviceNameGuard(log, 'hermes audioFrame');
  const refusals = new RefusalMemo();

  const frame = async (siteId: string, wav: Buffer): Promise<void> => {
    if (opts.owns && !recorder.active(siteId) && !opts.owns(siteId)) return;
    try {
      const { format, pcm } = await parseWavBuffer(wav).catch((err: unknown) => {
        throw new AppError(
          'BAD_PAYLOAD',
          `audioFrame of site '${siteId}' is not PCM WAV: ${(err as Error).message}`,
        );
      });
      let session = recorder.active(siteId);
      if (session && !sameFormat(session.format, format)) {
        await session.close();
        session = undefined;
      }
      session ??= await recorder.open(siteId, format, { source: 'hermes', idleTimeoutMs });
      session.write(pcm);
      refusals.clear(siteId);
    } catch (err) {
      const e = toAppError(err, 'BAD_PAYLOAD');
      // The recorder logs its own cap and allowlist refusals (once per device).
      if (e.code === 'LIMIT_REACHED' || e.code === 'INVALID_DEVICE') return;
      if (!refusals.isNew(siteId, e.message)) return;
      log.warn({ siteId, code: e.code, err: e.message }, 'hermes audioFrame refused');
      // open() already shows its own refusals in the status; a bad frame is shown here.
      if (e.code === 'BAD_PAYLOAD' && !recorder.active(siteId)) recorder.reportError(siteId, e);
    }
  };

  await opts.bus.subscribe(HERMES_AUDIO_FRAME_FILTER, 0, (topic, payload) => {
    const siteId = siteOf(topic);
    if (!validName(siteId, topic)) return;
    queue.run(siteId, () => frame(siteId, payload));
  });
  return { idle: () => queue.idle() };
}
