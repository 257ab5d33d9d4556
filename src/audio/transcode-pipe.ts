/**
 * Transcoding audio that may live only in memory (a degraded cache) to another output format through pipes:
 * the source goes to ffmpeg's stdin (or `-i <file>`), the result is yielded as ffmpeg writes it. Unlike
 * `transcodeFile`, nothing is seeked: MP3 has no Xing header, and WAV is 48 kHz mono s16le behind a streaming
 * header whose sizes the cache writer patches at commit.
 */
import { AppError, toAppError } from '../shared/errors.js';
import { runFfmpeg } from './ffmpeg.js';
import { gainArgs, outputArgs, rawPcmOutputArgs } from './ffmpeg-args.js';
import type { OutputFormat } from './format.js';
import { type AudioSource, ffmpegInput } from './source.js';
import { WAV_UNKNOWN_DATA_BYTES, wavHeader } from './wav.js';

/** Rate of WAV made here, in Hz (Opus decodes at 48 kHz, so nothing is lost from the usual source). */
const PIPE_WAV_RATE_HZ = 48_000;

/**
 * Yields `source` transcoded to `format` (see the module comment). Breaking out or aborting kills ffmpeg.
 * @throws AppError FFMPEG_FAILED (stderr tail), or the abort reason.
 */
export async function* transcodeToPipe(
  source: AudioSource,
  format: OutputFormat,
  opts: { bitrateKbps: number; gainDb?: number; signal: AbortSignal },
): AsyncGenerator<Buffer> {
  const input = ffmpegInput(source);
  const output =
    format === 'wav'
      ? rawPcmOutputArgs({ rateHz: PIPE_WAV_RATE_HZ, channels: 1 })
      : outputArgs({ format, bitrateKbps: opts.bitrateKbps }, true);
  const proc = runFfmpeg([...input.args, ...gainArgs(opts.gainDb), ...output, 'pipe:1'], opts.signal);
  proc.stdin.end(input.stdin);
  let finished = false;
  try {
    if (format === 'wav') {
      yield wavHeader({ rateHz: PIPE_WAV_RATE_HZ, widthBytes: 2, channels: 1 }, WAV_UNKNOWN_DATA_BYTES);
    }
    for await (const piece of proc.stdout) yield piece as Buffer;
    await proc.done;
    finished = true;
  } catch (err) {
    if (opts.signal.aborted) throw toAppError(opts.signal.reason);
    throw err instanceof AppError ? err : toAppError(err, 'FFMPEG_FAILED');
  } finally {
    if (!finished) proc.kill();
  }
}
