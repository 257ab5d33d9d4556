/**
 * The audio area's start-up facts, decided once from the options: the ffmpeg binary is found (fail fast with a
 * hint), its process cap set (option `limits.ffmpeg_processes`), the Opus encoder chosen (option
 * `opus.encoder`: in-process when it works here, else ffmpeg), and the encode threads that run the in-process
 * encodes beside the main thread when the hub is busy (option `opus.threads`, encode-threads.ts).
 */
import type { Options } from '../config/schema.js';
import type { Log } from '../shared/log.js';
import { type Service, service } from '../shared/service.js';
import { defaultEncodeThreads } from './encode-pool.js';
import { useEncodeThreads } from './encode-threads.js';
import type { OpusEncoderKind } from './encoder.js';
import { findFfmpeg, setFfmpegLimit } from './ffmpeg.js';
import { chooseOpusEncoder } from './inprocess-encoder.js';

/** Encode threads stop after this long without an encode, in ms (about 17 MB of memory each while they run). */
const IDLE_STOP_MS = 60_000;

/** What buildAudio decided: the Opus encoder to use, and the service of the encode threads. */
export interface AudioArea {
  opusEncoder: OpusEncoderKind;
  /**
   * Lets the in-process encodes use encode threads (started on demand; when they cannot start, the encodes stay
   * on the main thread); stop ends them.
   */
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
        // Started when an encode begins beside another, stopped after IDLE_STOP_MS without one.
        ({ release } = await useEncodeThreads(size, { eager: false, idleStopMs: IDLE_STOP_MS }));
        log.info({ threads: size }, 'Opus encodes move to encode threads while two or more run at once');
      },
      async stop() {
        const r = release;
        release = undefined;
        await r?.();
      },
    }),
  };
}
