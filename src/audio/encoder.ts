/**
 * Encoding PCM chunks to Ogg Opus, MP3 or WAV, overlapping synthesis. Two encoders behind one interface
 * (`EncodedStream`, an AsyncIterable of encoded bytes): Ogg Opus is made in process by default
 * (inprocess-encoder.ts: libopus and our Ogg pages, no child process); MP3, WAV and Opus with
 * `encoder: 'ffmpeg'` go through one ffmpeg child per stream, started when the first chunk arrives, whose
 * output is yielded while the engine is still speaking.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, toAppError } from '../shared/errors.js';
import { convertPcm } from './convert.js';
import { type FfmpegProcess, runFfmpeg } from './ffmpeg.js';
import { encoderArgs, gainArgs, outputArgs } from './ffmpeg-args.js';
import { type AudioChunk, type AudioFormat, type OutputFormat, pcmDurationMs } from './format.js';
import { encodeOpusInProcess } from './inprocess-encoder.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from './wav.js';

/** Who makes Ogg Opus: libopus in this process (default), or an ffmpeg child (the `opus.encoder` fallback). */
export type OpusEncoderKind = 'inprocess' | 'ffmpeg';

/**
 * libopus complexity when none is given (`opus.complexity`'s default): 5, about 30 % less codec CPU than
 * ffmpeg's 10 for speech at 32 kbit/s, with the same waveform SNR and a log-spectral distance 1 % higher.
 */
export const DEFAULT_OPUS_COMPLEXITY = 5;

/**
 * What to encode to: output format, bitrate in kbit/s (opus and mp3), gain in dB (default 0), and for Opus the
 * encoder (default `inprocess`) and the libopus complexity 0–10 of the in-process encoder (default 5).
 */
export interface EncodeSettings {
  format: OutputFormat;
  bitrateKbps: number;
  gainDb?: number;
  encoder?: OpusEncoderKind;
  complexity?: number;
}

/** True when `settings` are encoded in process (Ogg Opus without the ffmpeg fallback). */
export function encodesInProcess(settings: EncodeSettings): boolean {
  return settings.format === 'opus' && settings.encoder !== 'ffmpeg';
}

/** EncodeSettings plus the AbortSignal that cancels the encode (and kills ffmpeg). */
export interface EncodeOptions extends EncodeSettings {
  signal: AbortSignal;
}

/** The encoded bytes as they come, plus facts about the PCM that went in (final once iteration ends). */
export interface EncodedStream extends AsyncIterable<Buffer> {
  /** The first chunk's format, which fixed ffmpeg's input; undefined before the first chunk. */
  readonly inputFormat: AudioFormat | undefined;
  /** Duration of the PCM fed to ffmpeg so far, in ms (after any mid-stream conversion). */
  readonly inputDurationMs: number;
}

/** The first chunk of `it` that holds PCM (empty chunks skipped), or undefined when the source ends first. */
export async function firstAudio(it: AsyncIterator<AudioChunk>): Promise<AudioChunk | undefined> {
  for (;;) {
    const next = await it.next();
    if (next.done) return undefined;
    if (next.value.pcm.length > 0) return next.value;
  }
}

interface EncodeState {
  inputFormat: AudioFormat | undefined;
  inputBytes: number;
}

/**
 * Encodes PCM chunks as they arrive. Ogg Opus is encoded in process (`encodeOpusInProcess`) unless
 * `opts.encoder` is `ffmpeg`. Otherwise ffmpeg (`-f s16le -ar -ac` from the first chunk's format) starts only
 * when the first non-empty chunk arrives; PCM goes to its stdin with back-pressure while its stdout is yielded,
 * so encoding overlaps synthesis. Opus is libopus in Ogg with 20 ms frames, flushed packets and pages of
 * OGG_PAGE_DURATION_US; MP3 has no Xing header; WAV is s16le behind a header that declares an unknown length
 * (patch it when stored). A chunk whose format differs from the first is converted in process to the first
 * chunk's format. Breaking out of the iteration, or aborting `signal`, kills ffmpeg.
 * The say path does not use this: it encodes with say/live-encoder.ts (ffmpeg started before the first chunk,
 * spares), which shares `feedEncoder`; this plain form serves the encoder tests and `bench/main-path.ts`.
 * @throws AppError ENGINE_FAILED "no audio" when the source yields no PCM; FFMPEG_FAILED when ffmpeg fails;
 *   ENCODER_FAILED when the in-process encoder fails; ABORTED (or ENGINE_TIMEOUT for a timeout signal) on abort; an error thrown by `chunks` is rethrown as is.
 */
export function encodeStream(chunks: AsyncIterable<AudioChunk>, opts: EncodeOptions): EncodedStream {
  const state: EncodeState = { inputFormat: undefined, inputBytes: 0 };
  return {
    get inputFormat() {
      return state.inputFormat;
    },
    get inputDurationMs() {
      return state.inputFormat ? pcmDurationMs(state.inputBytes, state.inputFormat) : 0;
    },
    [Symbol.asyncIterator]: () => encode(chunks, opts, state)[Symbol.asyncIterator](),
  };
}

async function* encode(
  chunks: AsyncIterable<AudioChunk>,
  opts: EncodeOptions,
  state: EncodeState,
): AsyncGenerator<Buffer> {
  if (opts.signal.aborted) throw toAppError(opts.signal.reason);
  const it = chunks[Symbol.asyncIterator]();
  const first = await firstAudio(it);
  if (!first) throw new AppError('ENGINE_FAILED', 'the engine produced no audio for this text');
  state.inputFormat = first.format;
  const onInput = (bytes: number): void => {
    state.inputBytes += bytes;
  };
  if (encodesInProcess(opts)) {
    yield* encodeOpusInProcess({
      first,
      rest: it,
      settings: opusSettings(opts),
      signal: opts.signal,
      onInput,
    });
    return;
  }
  const internal = new AbortController();
  const signal = AbortSignal.any([opts.signal, internal.signal]);
  const proc = runFfmpeg(encoderArgs(first.format, opts), signal);
  yield* feedEncoder({
    proc,
    first,
    rest: it,
    format: opts.format,
    callerSignal: opts.signal,
    internal,
    onInput,
  });
}

/** The in-process Opus settings of `settings`. */
export function opusSettings(settings: EncodeSettings): {
  bitrateKbps: number;
  complexity: number;
  gainDb?: number;
} {
  return {
    bitrateKbps: settings.bitrateKbps,
    complexity: settings.complexity ?? DEFAULT_OPUS_COMPLEXITY,
    gainDb: settings.gainDb,
  };
}

/** What `feedEncoder` works with: a started ffmpeg, the first chunk and the rest of the source. */
export interface FeedEncoderOptions {
  proc: FfmpegProcess;
  /** The first non-empty chunk; its format is ffmpeg's input format, later chunks are converted to it. */
  first: AudioChunk;
  rest: AsyncIterator<AudioChunk>;
  format: OutputFormat;
  /** The caller's signal (its reason is what an abort throws). */
  callerSignal: AbortSignal;
  /** Aborted here when the source fails or the consumer stops early; ffmpeg must be bound to it. */
  internal: AbortController;
  /** Called with the byte count of each PCM piece written to ffmpeg. */
  onInput(bytes: number): void;
}

/**
 * Writes PCM to a running encoder's stdin with back-pressure (`stream/promises` pipeline) while yielding its
 * stdout; WAV output gets our header (unknown length) first. Shared by `encodeStream` and the live encoder.
 * Returns normally only when ffmpeg exited 0 after all input.
 * @throws the source's own error as is; the caller's abort reason; AppError FFMPEG_FAILED otherwise.
 */
export async function* feedEncoder(o: FeedEncoderOptions): AsyncGenerator<Buffer> {
  const { proc, first, rest, internal } = o;
  const signal = AbortSignal.any([o.callerSignal, internal.signal]);
  let sourceError: unknown;
  async function* pcm(): AsyncGenerator<Buffer> {
    try {
      o.onInput(first.pcm.length);
      yield first.pcm;
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        const converted = convertPcm(next.value.pcm, next.value.format, first.format);
        o.onInput(converted.length);
        yield converted;
      }
    } catch (err) {
      sourceError = err;
      internal.abort(err);
      throw err;
    }
  }
  let pipeError: unknown;
  const feeding = pipeline(Readable.from(pcm()), proc.stdin, { signal }).catch((err: unknown) => {
    pipeError = err;
  });
  let finished = false;
  try {
    if (o.format === 'wav') yield wavHeader({ ...first.format, widthBytes: 2 }, WAV_UNKNOWN_DATA_BYTES);
    for await (const buf of proc.stdout) yield buf as Buffer;
    await feeding;
    if (sourceError !== undefined) throw sourceError;
    await proc.done;
    if (pipeError !== undefined) throw toAppError(pipeError, 'FFMPEG_FAILED');
    finished = true;
  } catch (err) {
    throw (
      sourceError ??
      (o.callerSignal.aborted ? toAppError(o.callerSignal.reason) : toAppError(err, 'FFMPEG_FAILED'))
    );
  } finally {
    if (!finished) {
      internal.abort(new AppError('ABORTED', 'encoding stopped before the end'));
      rest.return?.().catch(() => {});
    }
  }
}

/** TranscodeFile options: EncodeSettings without the format (given separately), and the abort signal. */
export interface TranscodeOptions {
  bitrateKbps: number;
  gainDb?: number;
  signal: AbortSignal;
}

/**
 * Transcodes a finished audio file (for example a cached Ogg Opus) to `format` at `outputPath`, written by ffmpeg
 * directly (seekable, so MP3 gets a Xing header and WAV exact sizes). `outputPath` may have any extension; the
 * caller makes it appear atomically (write to a temp path, then rename, as the cache writer does).
 * @throws AppError FFMPEG_FAILED (with the stderr tail) or ABORTED.
 */
export async function transcodeFile(
  inputPath: string,
  outputPath: string,
  format: OutputFormat,
  opts: TranscodeOptions,
): Promise<void> {
  const settings: EncodeSettings = { format, bitrateKbps: opts.bitrateKbps, gainDb: opts.gainDb };
  const args = ['-i', inputPath, ...gainArgs(opts.gainDb), ...outputArgs(settings, false), '-y', outputPath];
  const proc = runFfmpeg(args, opts.signal);
  proc.stdin.end();
  proc.stdout.resume();
  try {
    await proc.done;
  } catch (err) {
    throw opts.signal.aborted ? toAppError(opts.signal.reason) : toAppError(err, 'FFMPEG_FAILED');
  }
}
