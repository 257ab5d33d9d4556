/**
 * Encoding PCM chunks to Ogg Opus, MP3 or WAV, overlapping synthesis: the settings, and the parts the live
 * encoder (say/live-encoder.ts, the product's one live encode) is made of. Ogg Opus is made in process by
 * default (inprocess-encoder.ts: libopus and our Ogg pages, no child process); MP3 and Opus with
 * `encoder: 'ffmpeg'` go through one ffmpeg child whose output is yielded while the engine is still speaking
 * (`feedEncoder`). Finished files are transcoded by `transcodeFile`.
 */
import { AppError, toAppError } from '../shared/errors.js';
import { convertPcm } from './convert.js';
import { type FfmpegProcess, pipeThroughFfmpeg, runFfmpeg } from './ffmpeg.js';
import { gainArgs, outputArgs } from './ffmpeg-args.js';
import type { AudioChunk, OutputFormat } from './format.js';
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

/** The first chunk of `it` that holds PCM (empty chunks skipped), or undefined when the source ends first. */
export async function firstAudio(it: AsyncIterator<AudioChunk>): Promise<AudioChunk | undefined> {
  for (;;) {
    const next = await it.next();
    if (next.done) return undefined;
    if (next.value.pcm.length > 0) return next.value;
  }
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
 * stdout; WAV output gets our header (unknown length) first. Used by the live encoder (say/live-encoder.ts).
 * Returns normally only when ffmpeg exited 0 after all input.
 * @throws the source's own error as is; the caller's abort reason; AppError FFMPEG_FAILED otherwise.
 */
export async function* feedEncoder(o: FeedEncoderOptions): AsyncGenerator<Buffer> {
  const { first, rest, internal } = o;
  async function* pcm(): AsyncGenerator<Buffer> {
    o.onInput(first.pcm.length);
    yield first.pcm;
    for (let next = await rest.next(); !next.done; next = await rest.next()) {
      const converted = convertPcm(next.value.pcm, next.value.format, first.format);
      o.onInput(converted.length);
      yield converted;
    }
  }
  let finished = false;
  try {
    if (o.format === 'wav') yield wavHeader({ ...first.format, widthBytes: 2 }, WAV_UNKNOWN_DATA_BYTES);
    yield* pipeThroughFfmpeg(o.proc, pcm(), o.callerSignal, internal);
    finished = true;
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
