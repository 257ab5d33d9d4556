/**
 * The streaming Opus encoder of one recording: ffmpeg reads raw PCM on stdin and writes an Ogg Opus file whose
 * packets are flushed at once on short pages, so the partial file decodes while the recording goes on.
 */
import { runFfmpeg } from '../audio/ffmpeg.js';
import { type AudioFormat, ffmpegPcmFormat } from '../audio/format.js';
import { AppError, toAppError } from '../shared/errors.js';

/** Ogg page length of the live file, in µs (ffmpeg's default is 1 s). */
export const LIVE_PAGE_DURATION_US = 100_000;

/** Output options shared by the live and the sidecar encodes: Opus at `bitrateKbps`, small flushed Ogg pages. */
function opusOutputArgs(bitrateKbps: number, outPath: string): string[] {
  return [
    '-c:a',
    'libopus',
    '-b:a',
    `${bitrateKbps}k`,
    '-frame_duration',
    '20',
    '-flush_packets',
    '1',
    '-page_duration',
    String(LIVE_PAGE_DURATION_US),
    '-f',
    'ogg',
    '-y',
    outPath,
  ];
}

/**
 * ffmpeg arguments for a live encode of raw PCM in `format` from stdin to `outPath`. `-probesize 32
 * -analyzeduration 0` keep ffmpeg from waiting for input before it writes the first page.
 */
export function liveEncoderArgs(format: AudioFormat, bitrateKbps: number, outPath: string): string[] {
  return [
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-f',
    ffmpegPcmFormat(format),
    '-ar',
    String(format.rateHz),
    '-ac',
    String(format.channels),
    '-i',
    'pipe:0',
    ...opusOutputArgs(bitrateKbps, outPath),
  ];
}

/** ffmpeg arguments that encode a finished WAV file (a sidecar) to Ogg Opus at `outPath`. */
export function fileEncoderArgs(inPath: string, bitrateKbps: number, outPath: string): string[] {
  return ['-i', inPath, ...opusOutputArgs(bitrateKbps, outPath)];
}

/** ffmpeg arguments that keep the decodable part of a truncated Ogg Opus file, copying packets unchanged. */
export function remuxArgs(inPath: string, outPath: string): string[] {
  return ['-err_detect', 'ignore_err', '-i', inPath, '-c:a', 'copy', '-f', 'ogg', '-y', outPath];
}

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

/** A running live encoder. */
export interface LiveEncoder {
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

/** What {@link startLiveEncoder} needs. */
export interface LiveEncoderOptions {
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
export function startLiveEncoder(opts: LiveEncoderOptions): LiveEncoder {
  const proc = runFfmpeg(liveEncoderArgs(opts.format, opts.bitrateKbps, opts.outPath));
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
