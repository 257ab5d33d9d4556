/**
 * The audio area's start-up facts, decided once from the options: the ffmpeg binary is found (fail fast with a
 * hint), its process cap set (option `limits.ffmpeg_processes`), the Opus encoder chosen (option
 * `opus.encoder`: in-process when it works here, else ffmpeg), and the encode threads that run the in-process
 * encodes beside the main thread (option `opus.threads`), started and stopped by the returned service.
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { defaultEncodeThreads } from './encode-pool.js';
import type { OpusEncoderKind } from './encoder.js';
import { findFfmpeg, setFfmpegLimit } from './ffmpeg.js';
import { chooseOpusEncoder, useEncodeThreads } from './inprocess-encoder.js';

/** What buildAudio decided: the Opus encoder to use, and the service of the encode threads. */
export interface AudioArea {
  opusEncoder: OpusEncoderKind;
  /** Starts the encode threads (a failure is logged and leaves the encodes on the main thread); stop ends them. */
  service: Service;
}

/**
 * Prepares audio for the hub.
 * @throws AppError FFMPEG_NOT_FOUND when no ffmpeg binary is found.
 */
export async function buildAudio(options: Options, deps: { log: Log }): Promise<AudioArea> {
  findFfmpeg();
  setFfmpegLimit(options.limits.ffmpeg_processes);
  const log = deps.log.child({ mod: 'audio' });
  const opusEncoder = await chooseOpusEncoder(options.opus.encoder, log);
  const size = opusEncoder === 'inprocess' ? (options.opus.threads ?? defaultEncodeThreads()) : 0;
  let release: (() => Promise<void>) | undefined;
  return {
    opusEncoder,
    service: service('audio', {
      async start() {
        if (size === 0 || release) return;
        try {
          ({ release } = await useEncodeThreads(size));
          log.info({ threads: size }, 'Opus encoded on encode threads');
        } catch (err) {
          log.warn(
            { err: (err as Error).message },
            'Opus encode threads unavailable; encoding on the main thread',
          );
        }
      },
      async stop() {
        const r = release;
        release = undefined;
        await r?.();
      },
    }),
  };
}
