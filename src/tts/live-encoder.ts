/**
 * A live encode whose ffmpeg starts before the first PCM arrives. Starting ffmpeg costs about 100 ms here,
 * as much as Piper needs for a short sentence, so waiting for the first chunk (as `encodeStream` does) would
 * double the time to first audio. The input format is guessed (the engine's last format, or a cached
 * phrase's); when the first chunk differs, the early ffmpeg is dropped and a new one started. Arguments come
 * from `encoderArgs` (Ogg Opus with flushed packets and ~100 ms pages; MP3 without Xing; WAV as raw PCM
 * behind our header), so every encode still goes through the one ffmpeg wrapper.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { convertPcm } from '../audio/convert.js';
import { type EncodeSettings, encoderArgs } from '../audio/encoder.js';
import { type FfmpegProcess, runFfmpeg } from '../audio/ffmpeg.js';
import { type AudioChunk, type AudioFormat, bytesPerSecond, sameFormat } from '../audio/format.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from '../audio/wav.js';
import { AppError, toAppError } from '../shared/errors.js';

/**
 * Live MP3 is encoded at 48 kHz: without a Xing/LAME header (a pipe cannot be patched) players count the
 * encoder delay and padding as audio, and at 48 kHz that stays under 40 ms instead of ~80 ms at 22 kHz.
 */
const MP3_RATE_HZ = 48_000;

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
  /** The format ffmpeg was started with (known after the first chunk). */
  readonly inputFormat: AudioFormat | undefined;
  /** Kills ffmpeg if it is still running (an encode that never started, or one abandoned). */
  close(): void;
}

function argsFor(input: AudioFormat, settings: EncodeSettings): string[] {
  const args = encoderArgs(input, settings);
  return settings.format === 'mp3' ? [...args.slice(0, -1), '-ar', String(MP3_RATE_HZ), 'pipe:1'] : args;
}

/**
 * Creates a live encoder; with `guess`, ffmpeg starts now. Aborting `signal` kills ffmpeg.
 * @throws AppError FFMPEG_NOT_FOUND.
 */
export function startLiveEncoder(opts: {
  settings: EncodeSettings;
  guess?: AudioFormat | undefined;
  signal: AbortSignal;
}): LiveEncoder {
  const internal = new AbortController();
  const signal = AbortSignal.any([opts.signal, internal.signal]);
  let proc: FfmpegProcess | undefined = opts.guess
    ? runFfmpeg(argsFor(opts.guess, opts.settings), signal)
    : undefined;
  let procFormat = opts.guess;
  let inputFormat: AudioFormat | undefined;
  let inputBytes = 0;

  async function* encode(chunks: AsyncIterable<AudioChunk>): AsyncGenerator<Buffer> {
    const it = chunks[Symbol.asyncIterator]();
    let first: AudioChunk | undefined;
    for (let next = await it.next(); !next.done; next = await it.next()) {
      if (next.value.pcm.length > 0) {
        first = next.value;
        break;
      }
    }
    if (!first) throw new AppError('ENGINE_FAILED', 'the engine produced no audio for this text');
    const format = first.format;
    inputFormat = format;
    if (!proc || !procFormat || !sameFormat(procFormat, format)) {
      proc?.kill();
      proc = runFfmpeg(argsFor(format, opts.settings), signal);
      procFormat = format;
    }
    const running = proc;
    let sourceError: unknown;
    async function* pcm(): AsyncGenerator<Buffer> {
      try {
        inputBytes += (first as AudioChunk).pcm.length;
        yield (first as AudioChunk).pcm;
        for (let next = await it.next(); !next.done; next = await it.next()) {
          const converted = convertPcm(next.value.pcm, next.value.format, format);
          inputBytes += converted.length;
          yield converted;
        }
      } catch (err) {
        sourceError = err;
        internal.abort(err);
        throw err;
      }
    }
    let pipeError: unknown;
    const feeding = pipeline(Readable.from(pcm()), running.stdin, { signal }).catch((err: unknown) => {
      pipeError = err;
    });
    let finished = false;
    try {
      if (opts.settings.format === 'wav')
        yield wavHeader({ ...format, widthBytes: 2 }, WAV_UNKNOWN_DATA_BYTES);
      for await (const buf of running.stdout) yield buf as Buffer;
      await feeding;
      if (sourceError !== undefined) throw sourceError;
      await running.done;
      if (pipeError !== undefined) throw toAppError(pipeError, 'FFMPEG_FAILED');
      finished = true;
    } catch (err) {
      throw (
        sourceError ??
        (opts.signal.aborted ? toAppError(opts.signal.reason) : toAppError(err, 'FFMPEG_FAILED'))
      );
    } finally {
      if (!finished) {
        internal.abort(new AppError('ABORTED', 'encoding stopped before the end'));
        it.return?.().catch(() => {});
      }
    }
  }

  return {
    encode,
    get inputDurationMs() {
      return inputFormat ? (inputBytes / bytesPerSecond(inputFormat)) * 1000 : 0;
    },
    get inputFormat() {
      return inputFormat;
    },
    close() {
      if (!internal.signal.aborted) internal.abort(new AppError('ABORTED', 'encoder closed'));
    },
  };
}
