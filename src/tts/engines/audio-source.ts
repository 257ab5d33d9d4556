import type { AudioChunk, AudioFormat } from '../../audio/format.js';
import { parseWavStream } from '../../audio/wav.js';
import { AppError, isAppError } from '../../shared/errors.js';
import { httpRequest, responseBytes } from './http-client.js';

/**
 * Turns an engine's byte stream into PCM chunks with engine-level errors: WAV (parsed as it arrives,
 * header sizes never trusted) or raw PCM of a known format. Anything the parser rejects becomes
 * ENGINE_BAD_RESPONSE; a stream with no audio at all too.
 */

/**
 * True for errors that already describe the fault from the engine's side (the transport's errors, aborts);
 * the WAV parser's own ENGINE_BAD_RESPONSE carries no engine name and is re-worded with it.
 */
function passesThrough(err: unknown): err is AppError {
  return isAppError(err) && !(err.code === 'ENGINE_BAD_RESPONSE' && err.details?.engine === undefined);
}

function badResponse(engine: string, what: string, cause?: unknown): AppError {
  return new AppError('ENGINE_BAD_RESPONSE', `engine '${engine}' sent ${what}; is the URL/type right?`, {
    cause,
    details: { engine },
  });
}

/**
 * Yields the PCM of a WAV byte stream as it arrives (16-bit or float32, any rate; float32 comes out as
 * s16). @throws AppError ENGINE_BAD_RESPONSE on a non-WAV or empty answer; errors of the source
 * (ENGINE_*, ABORTED) pass through.
 */
export async function* decodeWav(
  engine: string,
  source: AsyncIterable<Buffer | Uint8Array>,
): AsyncGenerator<AudioChunk> {
  let bytes = 0;
  try {
    for await (const chunk of parseWavStream(source)) {
      bytes += chunk.pcm.length;
      if (chunk.pcm.length > 0) yield chunk;
    }
  } catch (err) {
    if (passesThrough(err)) throw err;
    throw badResponse(engine, `audio that is not a valid WAV (${(err as Error).message})`, err);
  }
  if (bytes === 0) throw badResponse(engine, 'no audio');
}

/**
 * Yields raw PCM of a fixed `format` as it arrives, cut to whole frames (a partial frame is carried to
 * the next chunk; a trailing partial frame is dropped).
 * @throws AppError ENGINE_BAD_RESPONSE when no audio came; errors of the source pass through.
 */
export async function* decodeRawPcm(
  engine: string,
  format: AudioFormat,
  source: AsyncIterable<Buffer | Uint8Array>,
): AsyncGenerator<AudioChunk> {
  const frameBytes = format.widthBytes * format.channels;
  let carry = Buffer.alloc(0);
  let bytes = 0;
  for await (const piece of source) {
    const data = carry.length ? Buffer.concat([carry, piece]) : Buffer.from(piece);
    const whole = data.length - (data.length % frameBytes);
    carry = data.subarray(whole);
    if (whole > 0) {
      bytes += whole;
      yield { format, pcm: data.subarray(0, whole) };
    }
  }
  if (bytes === 0) throw badResponse(engine, 'no audio');
}

/**
 * Sends `init` to `url` and yields the engine's WAV answer as PCM chunks while it arrives (the HTTP engines:
 * Coqui, Piper's HTTP server, XTTS, pocket-tts).
 * @throws as `httpRequest` (ENGINE_UNAVAILABLE, ENGINE_FAILED), `responseBytes` and `decodeWav`
 *   (ENGINE_BAD_RESPONSE); the abort error.
 */
export async function* fetchWav(
  engine: string,
  url: string,
  init: RequestInit,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk> {
  const response = await httpRequest(engine, url, init, signal);
  yield* decodeWav(engine, responseBytes(engine, response, signal));
}
