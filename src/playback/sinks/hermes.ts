/**
 * Rhasspy / Hermes sites: the audio as WAV on `hermes/audioServer/<siteId>/playBytes/<requestId>`, then wait
 * for `hermes/audioServer/<siteId>/playFinished` with `{id: requestId}` (rhasspy/rhasspy-hermes
 * `rhasspyhermes/audioserver.py` AudioPlayBytes, AudioPlayFinished). Mosquitto refuses packets over about 2 MB
 * by default (`message_size_limit` / max packet size), so long audio goes as several WAVs of at most
 * HERMES_MAX_WAV_BYTES, each played (and finished) before the next is sent; an interrupted delivery stops
 * between parts.
 */
import { pcmDurationMs } from '../../audio/format.js';
import { encodeWav, WAV_HEADER_BYTES } from '../../audio/wav.js';
import { collectPcm, decodeToPcm, PLAYBACK_FORMAT } from '../pcm.js';
import type { SinkFactory } from '../sink.js';

/** Largest WAV in one playBytes message: 1 MiB, half of mosquitto's default limit (about 23 s at 22050 Hz). */
export const HERMES_MAX_WAV_BYTES = 1024 * 1024;
/** How long after a part's duration a site may take to answer playFinished, in ms. */
export const PLAY_FINISHED_GRACE_MS = 15_000;

/** The playBytes topic of a site and request id. */
export function playBytesTopic(siteId: string, requestId: string): string {
  return `hermes/audioServer/${siteId}/playBytes/${requestId}`;
}

/** A request id usable as a topic level: the say id when it has no `/`, `+`, `#`, else a random one. */
function requestIdFor(id: string): string {
  return /^[^/+#\s]{1,100}$/.test(id) ? id : crypto.randomUUID();
}

/** Splits PCM into parts whose WAV fits in `maxWavBytes` (whole frames). */
export function splitPcm(pcm: Buffer, maxWavBytes: number, frameBytes: number): Buffer[] {
  const perPart = Math.max(
    frameBytes,
    Math.floor((maxWavBytes - WAV_HEADER_BYTES) / frameBytes) * frameBytes,
  );
  const parts: Buffer[] = [];
  for (let at = 0; at < pcm.length; at += perPart) parts.push(pcm.subarray(at, at + perPart));
  return parts.length ? parts : [Buffer.alloc(0)];
}

/** Builds a hermes sink for `spec.siteId`. */
export const createHermesSink: SinkFactory = (spec, deps) => ({
  type: 'hermes',
  async play(live, ctx, signal) {
    const siteId = spec.siteId as string;
    const audio = await live.ready(signal);
    const f = PLAYBACK_FORMAT;
    const pcm = await collectPcm(decodeToPcm(audio, { volume: ctx.volume ?? spec.volume, signal }));
    const parts = splitPcm(pcm, HERMES_MAX_WAV_BYTES, f.widthBytes * f.channels);
    const baseId = requestIdFor(ctx.id);
    for (const [i, part] of parts.entries()) {
      signal.throwIfAborted();
      const requestId = parts.length === 1 ? baseId : `${baseId}-${i + 1}`;
      const timeoutMs = pcmDurationMs(part.length, f) + PLAY_FINISHED_GRACE_MS;
      const partDone = new AbortController();
      const finished = deps.playFinished.wait(
        siteId,
        requestId,
        timeoutMs,
        AbortSignal.any([signal, partDone.signal]),
      );
      finished.catch(() => {}); // awaited below; a failed publish must not leave it unhandled
      try {
        await deps.publish(playBytesTopic(siteId, requestId), encodeWav(f, part), { qos: 1 });
        if (i === parts.length - 1) ctx.accepted?.();
        await finished;
      } finally {
        partDone.abort(); // drops the wait (and its timer) when the publish failed
      }
    }
    return 'reported';
  },
});
