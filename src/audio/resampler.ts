/**
 * Streaming sample-rate conversion in process with the Speex resampler (Jean-Marc Valin's, BSD; the resampler
 * opus-tools' `opusenc` uses), compiled to WebAssembly by the npm package `speex-resampler`: once per say, from
 * the engine's rate to an Opus rate, on s16le PCM.
 *
 * Why Speex and this quality: measured on 4.9 s of espeak-ng speech, 22,050 → 24,000 Hz, on this project's
 * 2-core machine: libsamplerate's SRC_SINC_FASTEST (WebAssembly, the previous choice) cost 38 ms of CPU, Speex
 * quality 3 about 11 ms, quality 4 about 14 ms and quality 5 about 16 ms; quality 2 costs 72 % of quality 3
 * (8.56 s of speech: 20.2 against 27.9 ms, same run). Quality 2 (Speex's `quality_map` in `resample.c`: 32
 * taps, Kaiser-6 window, about 60 dB stop band, 0.910 of Nyquist passband when upsampling) measured here at
 * 22,050 → 24,000 Hz: a 9 kHz tone comes out 0.2 dB lower with its image 73 dB below it, a 10 kHz tone 5.6 dB
 * lower (quality 3: 4.4) with its image 66 dB below. That is well under the noise of Opus at 32 kbit/s, and
 * speech has little above 9 kHz; quality 3 (`SPEEX_RESAMPLER_QUALITY_VOIP`) would spend a third more CPU on
 * every say for none of it. Quality 1 loses 2.6 dB at 9 kHz and is not used.
 *
 * The package's own JavaScript class is not used: it never frees a resampler's state and cannot reset one, so
 * either every say would leak its filter (about 40 KB of WebAssembly heap) or reused resamplers would carry
 * state from the previous stream. This module drives the package's compiled Speex directly
 * (`speex-resampler/app/speex_wasm.js`, an Emscripten module exporting the C API of Speex's `resample.c`):
 * `speex_resampler_init`, `speex_resampler_process_interleaved_int`, `speex_resampler_destroy`. Each stream gets
 * its own resampler (init computes its sinc table: well under a millisecond) and frees it at the end.
 * Speex has no flush: `finish()` pushes silence through until exactly round(input frames × ratio) frames came
 * out, then trims.
 */
import type { AudioFormat } from './format.js';

/** The Emscripten module of `speex-resampler` (the parts used here; C signatures from Speex's `speex_resampler.h`). */
interface SpeexModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  getValue(ptr: number, type: 'i32'): number;
  setValue(ptr: number, value: number, type: 'i32'): void;
  AsciiToString(ptr: number): string;
  /** (channels, in_rate, out_rate, quality, *err) → state pointer, 0 on error. */
  _speex_resampler_init(
    channels: number,
    inHz: number,
    outHz: number,
    quality: number,
    errPtr: number,
  ): number;
  /** (state, *in, *in_len, *out, *out_len) → error code; lengths are frames per channel, updated in place. */
  _speex_resampler_process_interleaved_int(
    state: number,
    inPtr: number,
    inLenPtr: number,
    outPtr: number,
    outLenPtr: number,
  ): number;
  _speex_resampler_destroy(state: number): void;
  _speex_resampler_strerror(code: number): number;
}

/** An empty buffer (shared: never written). */
const EMPTY: Buffer = Buffer.alloc(0);
/** Speex quality 0–10 (see the module comment). */
const QUALITY = 2;
/** Silence pushed per step while draining the filter, in frames (the filter holds 32 taps at quality 2). */
const DRAIN_FRAMES = 256;

let lib: Promise<SpeexModule> | undefined;
/** The process events Emscripten's Node glue listens to (see loadLib). */
const EMSCRIPTEN_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
const listenersOf = (event: (typeof EMSCRIPTEN_EVENTS)[number]): Array<(...args: unknown[]) => void> =>
  process.listeners(event as 'uncaughtException') as Array<(...args: unknown[]) => void>;

function loadLib(): Promise<SpeexModule> {
  lib ??= import('speex-resampler/app/speex_wasm.js').then(async (m) => {
    // A CommonJS module with `exports.default`: Node's ESM loader nests it once more than bundlers do.
    type Factory = () => Promise<SpeexModule>;
    const d = (m as unknown as { default: Factory | { default: Factory } }).default;
    const before = new Map(EMSCRIPTEN_EVENTS.map((e) => [e, new Set(listenersOf(e))] as const));
    const speex = await (typeof d === 'function' ? d : d.default)();
    // Emscripten's Node glue adds process listeners that turn any unhandled rejection into an abort (a crash)
    // and rethrow uncaught exceptions; the hub has its own policy (main.ts), so they are taken off again.
    for (const [event, had] of before) {
      for (const listener of listenersOf(event)) {
        if (!had.has(listener)) process.off(event, listener);
      }
    }
    return speex;
  });
  return lib;
}

/** One Speex resampler and its buffers in the module's heap. */
class SpeexState {
  private inPtr = 0;
  private inBytes = 0;
  private outPtr = 0;
  private outBytes = 0;
  private readonly lens: number;
  private readonly state: number;

  constructor(
    private readonly m: SpeexModule,
    private readonly channels: number,
    private readonly ratio: number,
    fromHz: number,
    toHz: number,
  ) {
    this.lens = m._malloc(12);
    this.state = m._speex_resampler_init(channels, fromHz, toHz, QUALITY, this.lens + 8);
    const err = m.getValue(this.lens + 8, 'i32');
    if (!this.state || err !== 0) {
      m._free(this.lens);
      throw new Error(
        `resampler ${fromHz} → ${toHz} Hz refused: ${m.AsciiToString(m._speex_resampler_strerror(err))}`,
      );
    }
  }

  /**
   * Resamples whole s16le frames; returns the frames produced as a view of the module's heap, valid until the
   * next `process` or `free` (copy it to keep it).
   */
  process(pcm: Uint8Array): Buffer {
    const m = this.m;
    const frameBytes = 2 * this.channels;
    const outCap = (Math.ceil((pcm.length / frameBytes) * this.ratio) + 16) * frameBytes;
    if (this.inBytes < pcm.length) {
      if (this.inPtr) m._free(this.inPtr);
      this.inPtr = m._malloc(pcm.length);
      this.inBytes = pcm.length;
    }
    if (this.outBytes < outCap) {
      if (this.outPtr) m._free(this.outPtr);
      this.outPtr = m._malloc(outCap);
      this.outBytes = outCap;
    }
    m.HEAPU8.set(pcm, this.inPtr); // HEAPU8 read after every malloc: the heap may have grown
    m.setValue(this.lens, pcm.length / frameBytes, 'i32');
    m.setValue(this.lens + 4, outCap / frameBytes, 'i32');
    const err = m._speex_resampler_process_interleaved_int(
      this.state,
      this.inPtr,
      this.lens,
      this.outPtr,
      this.lens + 4,
    );
    if (err !== 0) throw new Error(`resampler failed: ${m.AsciiToString(m._speex_resampler_strerror(err))}`);
    const frames = m.getValue(this.lens + 4, 'i32');
    const heap = m.HEAPU8;
    return Buffer.from(heap.buffer, heap.byteOffset + this.outPtr, frames * frameBytes); // a view, no copy
  }

  /** Frees the state and buffers. */
  free(): void {
    const m = this.m;
    m._speex_resampler_destroy(this.state);
    if (this.inPtr) m._free(this.inPtr);
    if (this.outPtr) m._free(this.outPtr);
    m._free(this.lens);
  }
}

/** A streaming converter of interleaved s16le PCM from one rate to another. */
export interface Resampler {
  readonly fromHz: number;
  readonly toHz: number;
  readonly channels: number;
  /** Converts the next s16le PCM (a partial frame is kept for the next call); returns what came out so far. */
  push(pcm: Buffer): Buffer;
  /**
   * As `push`, but the result may be a view of the resampler's own memory that the next call (`push`,
   * `pushView`, `finish`, `release`) overwrites: for a caller that consumes it at once (the Opus encoder),
   * which saves a copy of every resampled byte.
   */
  pushView(pcm: Buffer): Buffer;
  /** Drains the filter: the rest of the output, so that the total is round(input frames × toHz / fromHz). */
  finish(): Buffer;
  /** Frees the converter. Safe to call twice; the resampler is unusable afterwards. */
  release(): void;
}

/**
 * A streaming resampler from `fromHz` to `toHz` for `channels` interleaved channels. Loads the WebAssembly
 * module on first use. Call `release()` at the end (after `finish()` or on abandon) to free its state.
 * @throws Error when the module cannot be loaded or Speex refuses the rates.
 */
export async function createResampler(fromHz: number, toHz: number, channels: number): Promise<Resampler> {
  const speex = new SpeexState(await loadLib(), channels, toHz / fromHz, fromHz, toHz);
  const frameBytes = 2 * channels;
  const framesFor = (input: number): number => Math.round((input * toHz) / fromHz);
  let inFrames = 0;
  let emitted = 0; // frames handed out
  let carry: Buffer = EMPTY; // a partial input frame from the last push (Speex takes whole frames)
  let held: Buffer = EMPTY; // output beyond round(input × ratio) so far: handed out later, if due
  let finished = false;
  let released = false;
  /**
   * Hands out what Speex made plus what was held, up to `limit` frames in all; holds (copies) the rest. With
   * nothing held, the result is (a part of) `made` itself: a view of the module's heap when `made` is one.
   */
  const emit = (made: Buffer, limit: number): Buffer => {
    const all = held.length ? Buffer.concat([held, made]) : made;
    const bytes = Math.max(0, Math.min(all.length, (limit - emitted) * frameBytes));
    held = bytes < all.length ? Buffer.from(all.subarray(bytes)) : EMPTY;
    emitted += bytes / frameBytes;
    return all.subarray(0, bytes);
  };
  const pushView = (pcm: Buffer): Buffer => {
    if (released || finished) throw new Error('resampler already finished');
    const all = carry.length ? Buffer.concat([carry, pcm]) : pcm;
    const whole = all.length - (all.length % frameBytes);
    carry = whole < all.length ? Buffer.from(all.subarray(whole)) : EMPTY;
    inFrames += whole / frameBytes;
    return emit(whole ? speex.process(all.subarray(0, whole)) : EMPTY, framesFor(inFrames));
  };
  return {
    fromHz,
    toHz,
    channels,
    pushView,
    push: (pcm) => Buffer.from(pushView(pcm)),
    finish() {
      if (released || finished) throw new Error('resampler already finished');
      finished = true;
      const want = framesFor(inFrames);
      const silence = Buffer.alloc(DRAIN_FRAMES * frameBytes);
      const parts: Buffer[] = [emit(EMPTY, want)];
      // The filter holds far less than 64 × 256 frames; the bound only guards against a stuck converter. Each
      // output is copied before the next process call overwrites it.
      for (let i = 0; i < 64 && emitted < want; i++)
        parts.push(Buffer.from(emit(speex.process(silence), want)));
      return Buffer.concat(parts);
    },
    release() {
      if (released) return;
      released = true;
      speex.free();
    },
  };
}

/** Loads the module and makes (and frees) one converter of each given pair, so the first say pays no set-up. */
export async function warmResamplers(pairs: Array<{ fromHz: number; toHz: number }>): Promise<void> {
  for (const p of pairs) (await createResampler(p.fromHz, p.toHz, 1)).release();
}

/** Rates libopus encodes natively (RFC 6716 §2: 8, 12, 16, 24 and 48 kHz). */
export const OPUS_RATES_HZ = [8000, 12000, 16000, 24000, 48000] as const;

/** The Opus rate audio at `rateHz` is encoded at: the same when native, else the next one up (48 kHz at most). */
export function opusRateFor(format: AudioFormat): number {
  return OPUS_RATES_HZ.find((r) => r >= format.rateHz) ?? 48000;
}
