/**
 * The in-process twin of `feedEncoder` (encoder.ts) for Ogg Opus: PCM chunks in, Ogg pages out as they are
 * completed, no child process. The say path (say/live-encoder.ts) and the live HTTP stream use it unless
 * `opus.encoder` is `ffmpeg`.
 */
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { convertPcm } from './convert.js';
import { countMainEncode, encodePoolForNext } from './encode-threads.js';
import type { OpusEncoderKind } from './encoder.js';
import { type AudioChunk, pcmBytesFor } from './format.js';
import {
  FIRST_PIECE_MS,
  OggOpusEncoder,
  type OpusEncodeSettings,
  PAGE_BATCH_MS,
  prepareInProcessOpus,
} from './opus-encoder.js';
import { encodeOpusOnThread } from './thread-encode.js';

/**
 * PCM encoded per step, in ms (about 1 ms of CPU): the event loop turns between steps (setImmediate), so HTTP
 * requests and MQTT messages are never held up by more than one step.
 */
const STEP_MS = 100;

/** What `encodeOpusInProcess` works with: the first chunk (fixes the input format) and the rest of the source. */
export interface InProcessEncodeOptions {
  first: AudioChunk;
  rest: AsyncIterator<AudioChunk>;
  settings: OpusEncodeSettings;
  /** Aborting stops the encode; the generator throws the reason (as an AppError). */
  signal: AbortSignal;
  /** Called with the byte count of each PCM piece encoded (after conversion to the first chunk's format). */
  onInput(bytes: number): void;
}

/**
 * Encodes `first` and then `rest` to Ogg Opus, on an encode thread when encode-threads.ts has them running,
 * else on the main thread in steps of STEP_MS, yielding the completed pages as soon as the
 * first audio page exists (with the header pages), then per PAGE_BATCH_MS of speech and at the end of each chunk.
 * A chunk in another format than the first is converted to it. Ending the iteration early, or an error, releases
 * the encoder and returns the source iterator.
 * @throws the source's own error as is; the abort reason (toAppError) when `signal` aborts; AppError
 *   ENCODER_FAILED when libopus cannot be loaded or fails, or the encode thread dies mid-encode (only the
 *   encodes on that thread fail; the thread is replaced); SHUTTING_DOWN when the threads were stopped.
 */
export async function* encodeOpusInProcess(o: InProcessEncodeOptions): AsyncGenerator<Buffer> {
  const pool = encodePoolForNext();
  if (pool) {
    yield* encodeOpusOnThread(o, pool);
    return;
  }
  const done = countMainEncode();
  try {
    yield* encodeOnMainThread(o);
  } finally {
    done();
  }
}

/** The in-process encode on the main thread, in steps (see STEP_MS). */
async function* encodeOnMainThread(o: InProcessEncodeOptions): AsyncGenerator<Buffer> {
  const format = o.first.format;
  let encoder: OggOpusEncoder;
  try {
    encoder = await OggOpusEncoder.create(format, o.settings);
  } catch (err) {
    await o.rest.return?.().catch(() => {});
    throw new AppError('ENCODER_FAILED', `cannot start the Opus encoder: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const stepBytes = pcmBytesFor(format, STEP_MS);
  const batchLimit = pcmBytesFor(format, PAGE_BATCH_MS);
  const batch: Buffer[] = [];
  let batchBytes = 0;
  let audioOut = false;
  const checkAbort = (): void => {
    if (o.signal.aborted) throw toAppError(o.signal.reason);
  };
  let finished = false;
  try {
    let chunk: AudioChunk | undefined = o.first;
    while (chunk) {
      checkAbort();
      const pcm = convertPcm(chunk.pcm, chunk.format, format);
      for (let at = 0; at < pcm.length; ) {
        const size = !audioOut ? pcmBytesFor(format, FIRST_PIECE_MS) : stepBytes;
        const piece = pcm.subarray(at, Math.min(pcm.length, at + size));
        at += size;
        o.onInput(piece.length);
        batch.push(...encodeStep(() => encoder.push(piece)));
        batchBytes += piece.length;
        const last = at >= pcm.length;
        const firstAudio: boolean = !audioOut && encoder.audioPagesOut > 0;
        if (batch.length && (firstAudio || last || batchBytes >= batchLimit)) {
          audioOut ||= firstAudio;
          yield Buffer.concat(batch.splice(0));
          batchBytes = 0;
        } else if (!last) {
          await new Promise<void>((r) => setImmediate(r));
        }
        checkAbort();
      }
      const next: IteratorResult<AudioChunk> = await o.rest.next();
      chunk = next.done ? undefined : next.value;
    }
    checkAbort();
    yield Buffer.concat(encodeStep(() => encoder.finish()));
    finished = true;
  } finally {
    encoder.close();
    if (!finished) await o.rest.return?.().catch(() => {});
  }
}

/** Runs one libopus step, turning a failure of the codec into ENCODER_FAILED. */
function encodeStep(step: () => Buffer[]): Buffer[] {
  try {
    return step();
  } catch (err) {
    throw new AppError('ENCODER_FAILED', `Opus encoding failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The Opus encoder the hub will use: `wanted`, except that `inprocess` falls back to `ffmpeg` (with a warning)
 * when libopus or the resampler cannot be loaded here. Loading happens now, so the first say pays none of it.
 */
export async function chooseOpusEncoder(wanted: OpusEncoderKind, log: Log): Promise<OpusEncoderKind> {
  if (wanted === 'ffmpeg') return wanted;
  try {
    const build = await prepareInProcessOpus();
    log.info({ libopus: build }, 'Ogg Opus encoded in process');
    return 'inprocess';
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'in-process Opus encoder unavailable; using ffmpeg');
    return 'ffmpeg';
  }
}
