/**
 * The in-process twin of `feedEncoder` (encoder.ts) for Ogg Opus: PCM chunks in, Ogg pages out as they are
 * completed, no child process. The say path, `encodeStream` and the live HTTP stream use it unless
 * `opus.encoder` is `ffmpeg`.
 */
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { convertPcm } from './convert.js';
import type { OpusEncoderKind } from './encoder.js';
import type { AudioChunk } from './format.js';
import { OggOpusEncoder, type OpusEncodeSettings, prepareInProcessOpus } from './opus-encoder.js';

/**
 * PCM encoded per step, in ms: the pages of a step are handed out together as soon as it is encoded (about 5 ms
 * of CPU for 500 ms of speech), and the event loop turns between steps. Bigger steps mean fewer writes to the
 * cache file and to listeners (each an await); the audio is there no later than the engine delivered it.
 */
const STEP_MS = 500;
/** The first step is one page (40 ms), so the first audio page goes out after the least work. */
const FIRST_STEP_MS = 40;

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
 * Encodes `first` and then `rest` to Ogg Opus, yielding the pages completed by each step of at most STEP_MS
 * (header pages with the first). A chunk in another format than the first is converted to it. Ending the
 * iteration early, or an error, releases the encoder and returns the source iterator.
 * @throws the source's own error as is; the abort reason (toAppError) when `signal` aborts; AppError
 *   ENCODER_FAILED when libopus cannot be loaded or fails.
 */
export async function* encodeOpusInProcess(o: InProcessEncodeOptions): AsyncGenerator<Buffer> {
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
  const frameBytes = format.widthBytes * format.channels;
  const bytesOf = (ms: number): number =>
    Math.max(frameBytes, Math.floor((format.rateHz * ms) / 1000) * frameBytes);
  const stepBytes = bytesOf(STEP_MS);
  let firstStep = true;
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
        const size = firstStep ? bytesOf(FIRST_STEP_MS) : stepBytes;
        firstStep = false;
        const piece = pcm.subarray(at, Math.min(pcm.length, at + size));
        at += size;
        o.onInput(piece.length);
        const pages = encodeStep(() => encoder.push(piece));
        if (pages.length) yield Buffer.concat(pages);
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
