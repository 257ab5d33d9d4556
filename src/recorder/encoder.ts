/**
 * The streaming Opus encoder of one recording: ffmpeg reads raw PCM on stdin and writes an Ogg Opus file whose
 * packets are flushed at once on short pages, so the partial file decodes while the recording goes on. The
 * arguments are ffmpeg-args.ts's (`recordingEncoderArgs`, `recordingFileEncoderArgs`, `remuxArgs`).
 */
import { runFfmpeg } from '../audio/ffmpeg.js';
import { recordingEncoderArgs } from '../audio/ffmpeg-args.js';
import type { AudioFormat } from '../audio/format.js';
import { AppError, toAppError } from '../shared/errors.js';

/**
 * Runs one ffmpeg to completion (file to file).
 * @throws AppError FFMPEG_FAILED with ffmpeg's stderr tail; the abort reason when `signal` aborts.
 */
export async function runFfmpegToEnd(args: string[], signal?: AbortSignal): Promise<void> {
  const proc = runFfmpeg(args, signal);
  proc.stdin.end();
  proc.stdout.resume();
  await proc.done;
}

/** A running recording encoder (ffmpeg writing the live `.partial.opus` file). */
export interface RecordingEncoder {
  /** ffmpeg's process id (tests kill it to prove nothing is lost); undefined while it waits for a slot. */
  readonly pid: number | undefined;
  /** Set once the encoder has failed: ffmpeg exited early, or fell more than `maxLagBytes` behind. */
  readonly failure: AppError | undefined;
  /** Queues PCM for ffmpeg; returns false (and drops nothing that matters: the sidecar has it) once failed. */
  write(pcm: Buffer): boolean;
  /**
   * Ends stdin and waits for ffmpeg to exit.
   * @throws AppError FFMPEG_FAILED when ffmpeg failed at any point.
   */
  finish(): Promise<void>;
}

/** What {@link startRecordingEncoder} needs. */
export interface RecordingEncoderOptions {
  format: AudioFormat;
  bitrateKbps: number;
  outPath: string;
  /** Bytes ffmpeg may lag behind the writer before it is declared failed (bounded buffering). */
  maxLagBytes: number;
  /** Called once when the encoder fails before `finish()`. */
  onFailure(err: AppError): void;
}

/**
 * Starts ffmpeg for a live recording. The caller never waits on it: `write` queues, and an encoder that falls
 * `maxLagBytes` behind is killed and reported through `onFailure` (the WAV sidecar still has every byte).
 * @throws AppError FFMPEG_NOT_FOUND when ffmpeg is missing.
 */
export function startRecordingEncoder(opts: RecordingEncoderOptions): RecordingEncoder {
  const proc = runFfmpeg(recordingEncoderArgs(opts.format, opts.bitrateKbps, opts.outPath));
  proc.stdout.resume();
  let failure: AppError | undefined;
  let finishing = false;
  const fail = (err: AppError): void => {
    if (failure) return;
    failure = err;
    if (!finishing) opts.onFailure(err);
  };
  const done = proc.done.then(
    () => {
      if (!finishing) fail(new AppError('FFMPEG_FAILED', 'ffmpeg exited before the recording ended'));
    },
    (err: unknown) => fail(toAppError(err, 'FFMPEG_FAILED')),
  );
  return {
    get pid() {
      return proc.pid;
    },
    get failure() {
      return failure;
    },
    write(pcm) {
      if (failure || finishing) return false;
      if (proc.stdin.writableLength > opts.maxLagBytes) {
        proc.kill();
        fail(
          new AppError('FFMPEG_FAILED', `ffmpeg fell more than ${opts.maxLagBytes} bytes behind; stopped it`),
        );
        return false;
      }
      proc.stdin.write(pcm);
      return true;
    },
    async finish() {
      finishing = true;
      proc.stdin.end();
      await done;
      if (failure) throw failure;
    },
  };
}
