/**
 * Issue 12's "whole text through the hub (any path, a miss) ≤ 1.05× the engine alone on the same text plus its
 * encode": the one measurement engine-server.ts needs besides the Python client's, the engine's encode (its
 * PCM to Ogg Opus in process, as the hub encodes).
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_OPUS_COMPLEXITY } from '../src/audio/encoder.js';
import type { AudioFormat } from '../src/audio/format.js';
import { encodeOpusInProcess } from '../src/audio/inprocess-encoder.js';
import { tone } from '../test/helpers/live-encode.js';

/** What Piper's medium voices (the bench's) speak: 22,050 Hz mono 16-bit. */
const PIPER_PCM: AudioFormat = { rateHz: 22_050, widthBytes: 2, channels: 1 };

/**
 * ms to encode `pcmBytes` of speech-format PCM (a tone standing in for the engine's samples, same length) to
 * Ogg Opus with the hub's in-process encoder at `bitrateKbps` and the default complexity, in 100 ms chunks.
 */
export async function opusEncodeMs(pcmBytes: number, bitrateKbps: number): Promise<number> {
  const frames = Math.floor(pcmBytes / 2);
  const chunkBytes = (PIPER_PCM.rateHz / 10) * 2;
  const pcm = tone(PIPER_PCM, (frames / PIPER_PCM.rateHz) * 1000);
  async function* chunks() {
    for (let at = chunkBytes; at < pcm.length; at += chunkBytes)
      yield { format: PIPER_PCM, pcm: pcm.subarray(at, at + chunkBytes) };
  }
  const t0 = performance.now();
  const rest = chunks();
  for await (const _page of encodeOpusInProcess({
    first: { format: PIPER_PCM, pcm: pcm.subarray(0, chunkBytes) },
    rest,
    settings: { bitrateKbps, complexity: DEFAULT_OPUS_COMPLEXITY },
    signal: AbortSignal.timeout(60_000),
    onInput: () => {},
  })) {
    // pages are dropped: only the time counts
  }
  return performance.now() - t0;
}
