/**
 * The live encoder of a say: PCM from the engine to an encoder whose output goes out while the engine still
 * speaks. Ogg Opus is encoded in process (audio/inprocess-encoder.ts) unless `opus.encoder` is `ffmpeg`.
 * Otherwise (MP3, WAV, the Opus fallback) one ffmpeg is started before the first PCM when the input format can
 * be guessed (the phrase cache's first sentence, or the engine's last format), or taken ready from a pool of
 * spares; a wrong guess is replaced when the first chunk shows the real format. The ffmpeg PCM plumbing is
 * `feedEncoder` (audio/encoder.ts).
 */

import { convertPcm } from '../audio/convert.js';
import {
  type EncodeSettings,
  encodesInProcess,
  feedEncoder,
  firstAudio,
  opusSettings,
} from '../audio/encoder.js';
import { type FfmpegProcess, ffmpegLoad, runFfmpeg } from '../audio/ffmpeg.js';
import { encoderArgs } from '../audio/ffmpeg-args.js';
import { onSlotShortage } from '../audio/ffmpeg-slots.js';
import { type AudioChunk, type AudioFormat, pcmDurationMs, sameFormat } from '../audio/format.js';
import { encodeOpusInProcess } from '../audio/inprocess-encoder.js';
import { applyGain } from '../audio/loudness.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from '../audio/wav.js';
import { AppError } from '../shared/errors.js';

/**
 * Live MP3 is encoded at 48 kHz: without a Xing/LAME header (a pipe cannot be patched) players count the
 * encoder delay and padding as audio, and at 48 kHz that stays under 40 ms instead of ~80 ms at 22 kHz.
 */
const MP3_RATE_HZ = 48_000;

/**
 * Idle ffmpeg processes started ahead of need, one per argument list (at most MAX_SPARES): the next live
 * encode with the same input format and settings takes one and so pays no start-up at all. A spare waits on
 * its stdin and uses no CPU, but holds a slot under the ffmpeg cap, so spares start only while at least one
 * more slot stays free and nothing waits, and a start that finds the cap full ends the oldest spare
 * (ffmpeg-slots.ts `onSlotShortage`). `close()` kills them (service stop).
 */
export interface EncoderPool {
  /** A running ffmpeg for `args`: a spare when one matches (killed when `signal` aborts), else a new one. */
  take(args: string[], signal: AbortSignal): FfmpegProcess;
  /** Starts a spare for `args` unless one is waiting. */
  refill(args: string[]): void;
  /** Kills every spare; later `refill`s start none. */
  close(): void;
}

/**
 * Most spares kept at once (one per recent input format and settings: the live MP3 encode, and the AAC and
 * FLAC of /v1/audio/speech, with one left for a second engine's input format).
 */
const MAX_SPARES = 4;

/** Creates an empty pool. */
export function createEncoderPool(): EncoderPool {
  const spares = new Map<string, FfmpegProcess>();
  const closing = new AbortController();
  // A start waiting for a slot under a full cap ends the oldest spare: its exit frees the slot.
  const stopReclaiming = onSlotShortage(() => {
    const oldest = spares.entries().next().value as [string, FfmpegProcess] | undefined;
    if (!oldest) return false;
    spares.delete(oldest[0]);
    oldest[1].kill();
    return true;
  });
  return {
    take(args, signal) {
      const id = JSON.stringify(args);
      const spare = spares.get(id);
      spares.delete(id);
      if (!spare) return runFfmpeg(args, signal);
      const onAbort = (): void => spare.kill();
      if (signal.aborted) spare.kill();
      else signal.addEventListener('abort', onAbort, { once: true });
      spare.done.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
      return spare;
    },
    refill(args) {
      const id = JSON.stringify(args);
      if (closing.signal.aborted || spares.has(id)) return;
      // Spares only from slack under the ffmpeg cap: never make real work wait, leave a slot free.
      const load = ffmpegLoad();
      if (load.waiting > 0 || load.running + 2 > load.limit) return;
      const proc = runFfmpeg(args, closing.signal);
      spares.set(id, proc);
      // A spare that dies (killed from outside) is forgotten.
      proc.done
        .catch(() => {})
        .finally(() => {
          if (spares.get(id) === proc) spares.delete(id);
        });
      while (spares.size > MAX_SPARES) {
        const [oldest, old] = spares.entries().next().value as [string, FfmpegProcess];
        spares.delete(oldest);
        old.kill();
      }
    },
    close() {
      stopReclaiming();
      closing.abort(new AppError('SHUTTING_DOWN', 'encoder pool closed'));
      spares.clear();
    },
  };
}

/** A live encode (see the module comment). */
export interface LiveEncoder {
  /**
   * Encodes `chunks`, yielding ffmpeg's output as it comes. Call once.
   * @throws AppError ENGINE_FAILED when the source has no audio; FFMPEG_FAILED; the abort reason; an error
   *   thrown by `chunks` as is.
   */
  encode(chunks: AsyncIterable<AudioChunk>): AsyncGenerator<Buffer>;
  /** Duration of the PCM fed so far, in ms. */
  readonly inputDurationMs: number;
  /**
   * Duration of the audio encoded so far, in ms: exact in process; for ffmpeg's compressed output estimated
   * from its size at the nominal bitrate (MP3 is constant bitrate), so it runs a little ahead of the truth.
   */
  readonly outputMs: number;
  /** The format ffmpeg was started with (known after the first chunk). */
  readonly inputFormat: AudioFormat | undefined;
  /** Kills ffmpeg if it is still running (an encode that never started, or one abandoned). */
  close(): void;
}

/** The ffmpeg arguments of a live encode of `input` PCM with `settings`. */
export function liveEncoderArgs(input: AudioFormat, settings: EncodeSettings): string[] {
  const args = encoderArgs(input, settings);
  return settings.format === 'mp3' ? [...args.slice(0, -1), '-ar', String(MP3_RATE_HZ), 'pipe:1'] : args;
}

/** What a live encoder is started with. */
export interface LiveEncoderOptions {
  settings: EncodeSettings;
  /** The likely PCM format (ffmpeg is started with it before the first chunk). */
  guess?: AudioFormat | undefined;
  signal: AbortSignal;
  pool?: EncoderPool;
}

/**
 * Creates a live encoder. In-process Opus starts nothing ahead (setting up libopus costs well under a
 * millisecond). For ffmpeg, with `guess` ffmpeg starts now (or a spare of `pool` is taken); aborting `signal`
 * kills it; when the encode has finished, a spare for the same format is started in `pool`.
 * @throws AppError FFMPEG_NOT_FOUND.
 */
export function startLiveEncoder(opts: LiveEncoderOptions): LiveEncoder {
  return encodesInProcess(opts.settings) ? startInProcess(opts) : startFfmpeg(opts);
}

/** What was fed to an encoder (the first chunk's format and the PCM bytes after conversion) and what came out. */
interface InputMeter {
  format: AudioFormat | undefined;
  bytes: number;
  /** Duration of the output so far in ms; undefined: the same as the input (encoded as it is fed). */
  outputMs?: number;
}

/** The LiveEncoder of `encode`, reporting `meter`, whose `close()` aborts `internal`. */
function liveEncoder(
  encode: LiveEncoder['encode'],
  meter: InputMeter,
  internal: AbortController,
): LiveEncoder {
  return {
    encode,
    get inputDurationMs() {
      return meter.format ? pcmDurationMs(meter.bytes, meter.format) : 0;
    },
    get outputMs() {
      return meter.outputMs ?? this.inputDurationMs;
    },
    get inputFormat() {
      return meter.format;
    },
    close() {
      if (!internal.signal.aborted) internal.abort(new AppError('ABORTED', 'encoder closed'));
    },
  };
}

/** The first non-empty chunk of `it`, recorded as the input format of `meter`. @throws ENGINE_FAILED "no audio" */
async function firstChunk(it: AsyncIterator<AudioChunk>, meter: InputMeter): Promise<AudioChunk> {
  const first = await firstAudio(it);
  if (!first) throw new AppError('ENGINE_FAILED', 'the engine produced no audio for this text');
  meter.format = first.format;
  return first;
}

/** The in-process Ogg Opus live encoder (no child process, no pool). */
function startInProcess(opts: LiveEncoderOptions): LiveEncoder {
  const internal = new AbortController();
  const signal = AbortSignal.any([opts.signal, internal.signal]);
  const meter: InputMeter = { format: undefined, bytes: 0 };
  async function* encode(chunks: AsyncIterable<AudioChunk>): AsyncGenerator<Buffer> {
    const it = chunks[Symbol.asyncIterator]();
    const first = await firstChunk(it, meter);
    yield* encodeOpusInProcess({
      first,
      rest: it,
      settings: opusSettings(opts.settings),
      signal,
      onInput: (bytes) => {
        meter.bytes += bytes;
      },
    });
  }
  return liveEncoder(encode, meter, internal);
}

/** The ffmpeg live encoder (MP3, WAV, and Opus with `opus.encoder: ffmpeg`). */
function startFfmpeg(opts: LiveEncoderOptions): LiveEncoder {
  const internal = new AbortController();
  const signal = AbortSignal.any([opts.signal, internal.signal]);
  const spawn = (format: AudioFormat): FfmpegProcess => {
    const args = liveEncoderArgs(format, opts.settings);
    return opts.pool ? opts.pool.take(args, signal) : runFfmpeg(args, signal);
  };
  // WAV is our header and the PCM itself: made in process, no ffmpeg at all (wavInProcess below).
  const inProcess = opts.settings.format === 'wav';
  let proc: FfmpegProcess | undefined = opts.guess && !inProcess ? spawn(opts.guess) : undefined;
  let procFormat = opts.guess;
  const meter: InputMeter = { format: undefined, bytes: 0 };
  const onInput = (bytes: number): void => {
    meter.bytes += bytes;
  };

  async function* encode(chunks: AsyncIterable<AudioChunk>): AsyncGenerator<Buffer> {
    const it = chunks[Symbol.asyncIterator]();
    const first = await firstChunk(it, meter);
    const format = first.format;
    if (inProcess) {
      yield* wavInProcess(first, it, opts.settings.gainDb ?? 0, onInput);
      return;
    }
    if (!proc || !procFormat || !sameFormat(procFormat, format)) {
      proc?.kill();
      proc = spawn(format);
      procFormat = format;
    }
    const { format: output, bitrateKbps } = opts.settings;
    const compressed = output !== 'wav';
    let outBytes = 0;
    if (compressed) meter.outputMs = 0;
    for await (const buf of feedEncoder({
      proc,
      first,
      rest: it,
      format: output,
      callerSignal: opts.signal,
      internal,
      onInput,
    })) {
      // Compressed output at its nominal bitrate (kbit/s = bits per ms); `wav` is counted as its input.
      outBytes += buf.length;
      if (compressed) meter.outputMs = (outBytes * 8) / bitrateKbps;
      yield buf;
    }
    meter.outputMs = undefined;
    // Before the result goes out, so the spare's start never lands in a later request's time.
    opts.pool?.refill(liveEncoderArgs(format, opts.settings));
  }

  return liveEncoder(encode, meter, internal);
}

/**
 * Live WAV without ffmpeg: our header (16-bit, unknown length; the cache writer patches the sizes), then every
 * chunk converted to the first chunk's rate and channels as 16-bit PCM with `gainDb` applied, as ffmpeg's
 * `pcm_s16le` output with `-af volume` would be.
 */
async function* wavInProcess(
  first: AudioChunk,
  rest: AsyncIterator<AudioChunk>,
  gainDb: number,
  onInput: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  const out: AudioFormat = { ...first.format, widthBytes: 2 };
  yield wavHeader(out, WAV_UNKNOWN_DATA_BYTES);
  const pcmOf = (chunk: AudioChunk): Buffer => {
    const converted = convertPcm(chunk.pcm, chunk.format, { ...first.format });
    onInput(converted.length);
    return applyGain(convertPcm(converted, first.format, out), out, gainDb);
  };
  yield pcmOf(first);
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    if (next.value.pcm.length > 0) yield pcmOf(next.value);
  }
}
