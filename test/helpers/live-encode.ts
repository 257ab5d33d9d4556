/**
 * Shared pieces of the encoder tests: a sine tone of known length, the product's live encode (say/live-encoder.ts)
 * as an iterable, and a source that holds back its second chunk until the test has seen audio.
 */
import type { EncodeSettings } from '../../src/audio/encoder.js';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import { oggOpusDurationMs } from '../../src/audio/ogg.js';
import { startLiveEncoder } from '../../src/say/live-encoder.js';

/** A 440 Hz sine in `format` (s16), `ms` long: PCM with a known length. */
export function tone(format: AudioFormat, ms: number): Buffer {
  const frames = Math.round((format.rateHz * ms) / 1000);
  const buf = Buffer.alloc(frames * 2 * format.channels);
  for (let f = 0; f < frames; f++) {
    const v = Math.round(Math.sin((2 * Math.PI * 440 * f) / format.rateHz) * 8000);
    for (let c = 0; c < format.channels; c++) buf.writeInt16LE(v, (f * format.channels + c) * 2);
  }
  return buf;
}

/** The product's live encode (say/live-encoder.ts, without a pool) of `chunks`: bytes and input facts. */
export function encodeLive(
  chunks: AsyncIterable<AudioChunk>,
  opts: EncodeSettings & { signal: AbortSignal },
): AsyncIterable<Buffer> & { readonly inputDurationMs: number } {
  const encoder = startLiveEncoder({ settings: opts, signal: opts.signal });
  return {
    [Symbol.asyncIterator]: () => encoder.encode(chunks),
    get inputDurationMs() {
      return encoder.inputDurationMs;
    },
  };
}

/**
 * A tone source in `format` that yields `firstMs`, then waits until `release()` before yielding `restMs`, so a
 * test can check that audio came out while the source was still open.
 */
export function heldSource(format: AudioFormat, firstMs: number, restMs: number) {
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  async function* source(): AsyncGenerator<AudioChunk> {
    yield { format, pcm: tone(format, firstMs) };
    await released;
    yield { format, pcm: tone(format, restMs) };
  }
  return { source: source(), release: () => release() };
}

/**
 * Reads `bytes` to the end, calling `release` once the bytes read so far hold Ogg Opus audio.
 * @returns everything read, and whether audio came out before `release` was called.
 */
export async function readReleasingAtFirstAudio(
  bytes: AsyncIterable<Buffer>,
  release: () => void,
): Promise<{ all: Buffer; sawAudioEarly: boolean }> {
  const parts: Buffer[] = [];
  let sawAudioEarly = false;
  for await (const b of bytes) {
    parts.push(b);
    if (!sawAudioEarly && (oggOpusDurationMs(Buffer.concat(parts)) ?? 0) > 0) {
      sawAudioEarly = true;
      release();
    }
  }
  return { all: Buffer.concat(parts), sawAudioEarly };
}

/** The bytes of the complete Ogg pages at the start of `buf`, and the last complete page's granule position. */
export function completePages(buf: Buffer): { bytes: Buffer; granule: bigint } {
  let at = 0;
  let granule = -1n;
  while (at + 27 <= buf.length && buf.toString('latin1', at, at + 4) === 'OggS') {
    const segments = buf[at + 26] as number;
    if (at + 27 + segments > buf.length) break;
    const body = [...buf.subarray(at + 27, at + 27 + segments)].reduce((a, b) => a + b, 0);
    if (at + 27 + segments + body > buf.length) break;
    granule = buf.readBigInt64LE(at + 6);
    at += 27 + segments + body;
  }
  return { bytes: buf.subarray(0, at), granule };
}
