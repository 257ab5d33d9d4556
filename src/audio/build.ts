/**
 * The audio area's start-up facts, decided once from the options: the ffmpeg binary is found (fail fast with a
 * hint), its process cap set (option `limits.ffmpeg_processes`), and the Opus encoder chosen (option
 * `opus.encoder`: in-process when it works here, else ffmpeg).
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import type { OpusEncoderKind } from './encoder.js';
import { findFfmpeg, setFfmpegLimit } from './ffmpeg.js';
import { chooseOpusEncoder } from './inprocess-encoder.js';

/**
 * Prepares audio for the hub; returns the Opus encoder to use.
 * @throws AppError FFMPEG_NOT_FOUND when no ffmpeg binary is found.
 */
export async function buildAudio(options: Options, deps: { log: Log }): Promise<OpusEncoderKind> {
  findFfmpeg();
  setFfmpegLimit(options.limits.ffmpeg_processes);
  return chooseOpusEncoder(options.opus.encoder, deps.log.child({ mod: 'audio' }));
}
