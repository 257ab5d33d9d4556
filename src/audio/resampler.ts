/**
 * Streaming sample-rate conversion in process with libsamplerate (Erik de Castro Lopo's SRC, BSD) compiled to
 * WebAssembly (`@alexanderolsen/libsamplerate-js`), converter SRC_SINC_FASTEST (band-limited sinc, about 97 dB
 * SNR): once per say, from the engine's rate to an Opus rate.
 *
 * Two quirks of the wrapper are handled here (source: aolsenjazz/libsamplerate-js `src/wasm-src.cpp`):
 * - its `full()` never sets `end_of_input`, so the filter's last few milliseconds stay inside; `finish()` pushes
 *   silence through until exactly round(input frames × ratio) frames came out, then trims;
 * - every `create()` compiles and instantiates its own WebAssembly module (about 5–18 ms and 2 MB), so
 *   converters are pooled per rate pair and reset for reuse (setting the input rate re-creates the SRC state).
 */
import type { AudioFormat } from './format.js';

/** The wrapper's converter (the parts used here); see `dist/src.d.ts` of the package. */
interface Src {
  full(dataIn: Float32Array): Float32Array;
  inputSampleRate: number;
  destroy(): void;
}

type Lib = {
  create(
    channels: number,
    fromHz: number,
    toHz: number,
    options: { converterType: 0 | 1 | 2 | 3 | 4 },
  ): Promise<Src>;
  ConverterType: { SRC_SINC_FASTEST: 0 | 1 | 2 | 3 | 4 };
};

/** Converters kept idle per rate pair and channel count. */
const MAX_IDLE_PER_KEY = 4;
/** The wrapper's transfer buffer holds 1,008,000 floats; stay well below it. */
const MAX_SAMPLES_PER_CALL = 65_536;
/** Silence pushed per step while draining the filter at the end, in frames. */
const DRAIN_FRAMES = 256;

let lib: Promise<Lib> | undefined;
const idle = new Map<string, Src[]>();

function loadLib(): Promise<Lib> {
  lib ??= import('@alexanderolsen/libsamplerate-js').then((m) => (m.default ?? m) as unknown as Lib);
  return lib;
}

/** A streaming converter of interleaved float samples from one rate to another. */
export interface Resampler {
  readonly fromHz: number;
  readonly toHz: number;
  readonly channels: number;
  /** Converts the next piece of interleaved samples (−1..1); returns what came out so far (may be empty). */
  push(samples: Float32Array): Float32Array;
  /** Drains the filter: the rest of the output, so that the total is round(input frames × toHz / fromHz). */
  finish(): Float32Array;
  /** Gives the converter back to the pool. Safe to call twice; the resampler is unusable afterwards. */
  release(): void;
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0] as Float32Array;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A streaming resampler from `fromHz` to `toHz` for `channels` interleaved channels, taken from the pool when
 * one is idle. Loads the WebAssembly module on first use.
 * @throws Error when the module cannot be loaded or the rates are out of libsamplerate's range (1–192,000 Hz).
 */
export async function createResampler(fromHz: number, toHz: number, channels: number): Promise<Resampler> {
  const key = `${fromHz}:${toHz}:${channels}`;
  let src: Src | undefined = idle.get(key)?.pop();
  if (!src) {
    const l = await loadLib();
    src = await l.create(channels, fromHz, toHz, { converterType: l.ConverterType.SRC_SINC_FASTEST });
  }
  const converter: Src = src;
  let inFrames = 0;
  let outFrames = 0;
  let released = false;
  const run = (samples: Float32Array): Float32Array => {
    const parts: Float32Array[] = [];
    for (let at = 0; at < samples.length; at += MAX_SAMPLES_PER_CALL) {
      parts.push(converter.full(samples.subarray(at, Math.min(samples.length, at + MAX_SAMPLES_PER_CALL))));
    }
    const out = parts.length ? concat(parts) : new Float32Array(0);
    outFrames += out.length / channels;
    return out;
  };
  return {
    fromHz,
    toHz,
    channels,
    push(samples) {
      if (released) throw new Error('resampler already released');
      inFrames += samples.length / channels;
      return run(samples);
    },
    finish() {
      if (released) throw new Error('resampler already released');
      const want = Math.round((inFrames * toHz) / fromHz);
      const parts: Float32Array[] = [];
      const silence = new Float32Array(DRAIN_FRAMES * channels);
      // The sinc filter holds far less than 64 × 256 frames; the bound only guards against a stuck converter.
      for (let i = 0; i < 64 && outFrames < want; i++) parts.push(run(silence));
      const out = concat(parts.length ? parts : [new Float32Array(0)]);
      const excess = Math.max(0, outFrames - want);
      return out.subarray(0, Math.max(0, out.length - excess * channels));
    },
    release() {
      if (released) return;
      released = true;
      const list = idle.get(key) ?? [];
      if (list.length >= MAX_IDLE_PER_KEY) {
        converter.destroy();
        return;
      }
      converter.inputSampleRate = fromHz; // the wrapper's setter deletes and re-creates the SRC state: a reset
      list.push(converter);
      idle.set(key, list);
    },
  };
}

/** Loads the module and keeps one converter of each given pair ready, so the first say pays no set-up. */
export async function warmResamplers(pairs: Array<{ fromHz: number; toHz: number }>): Promise<void> {
  for (const p of pairs) (await createResampler(p.fromHz, p.toHz, 1)).release();
}

/** The samples of s16le `pcm` as an Int16Array (a view when aligned, else a copy); little-endian hosts only. */
function int16View(pcm: Buffer): Int16Array {
  const n = pcm.length >> 1;
  if (pcm.byteOffset % 2 === 0) return new Int16Array(pcm.buffer, pcm.byteOffset, n);
  return new Int16Array(Uint8Array.prototype.slice.call(pcm, 0, n * 2).buffer);
}

/** s16le PCM → interleaved floats in −1..1. */
export function s16ToFloat(pcm: Buffer): Float32Array {
  const src = int16View(pcm);
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = (src[i] as number) / 32768;
  return out;
}

/** Interleaved floats → s16le PCM (clamped, rounded). */
export function floatToS16(samples: Float32Array): Buffer {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = (samples[i] as number) * 32767;
    out[i] = v >= 32767 ? 32767 : v <= -32767 ? -32767 : Math.round(v);
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Rates libopus encodes natively (RFC 6716 §2: 8, 12, 16, 24 and 48 kHz). */
export const OPUS_RATES_HZ = [8000, 12000, 16000, 24000, 48000] as const;

/** The Opus rate audio at `rateHz` is encoded at: the same when native, else the next one up (48 kHz at most). */
export function opusRateFor(format: AudioFormat): number {
  return OPUS_RATES_HZ.find((r) => r >= format.rateHz) ?? 48000;
}
