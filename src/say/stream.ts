/**
 * A say as a byte stream in any streamed format (the OpenAI speech formats), at any speed, live: the bytes
 * leave while the engine still speaks. Which source serves it:
 * - opus, mp3 or wav at speed 1: the say is made in that very format; a miss streams the live job's encoded
 *   bytes, a hit streams the cached file. Nothing is transcoded.
 * - anything else (pcm, aac, flac, another speed): the say is made as WAV, so the cached entry is PCM a hit
 *   reads without decoding; a miss takes the live job's PCM (no decode either). `pcm` is resampled once to
 *   24 kHz in process (the Speex resampler, audio/resampler.ts; passed through from a 24 kHz engine); the others go
 *   through one ffmpeg, started before the first PCM exists so its start-up overlaps synthesis.
 */
import { runFfmpeg } from '../audio/ffmpeg.js';
import { type AudioChunk, type AudioFormat, OPENAI_PCM_RATE_HZ, type OutputFormat } from '../audio/format.js';
import { createResampler } from '../audio/resampler.js';
import { type AudioSource, ffmpegInput, openAudio } from '../audio/source.js';
import { type StreamFormat, startFfmpegPipe, wavToStreamArgs } from '../audio/stream-formats.js';
import { parseWavStream, WAV_UNKNOWN_DATA_BYTES, wavHeader } from '../audio/wav.js';
import type { LiveJob } from './live-audio.js';
import type { EncoderPool } from './live-encoder.js';
import type { SayRequest } from './request.js';
import type { SayResult, SayService, SayTicket } from './types.js';

/** How a stream is asked for: the format and the speed (0.25–4, 1 = as spoken). */
export interface StreamShape {
  format: StreamFormat;
  speed: number;
}

/** A say being streamed. */
export interface SayStream {
  /** True when the audio came from the cache. */
  cached: boolean;
  /** The bytes in the asked format, as they are made; throws the say's error if it fails mid-way. */
  bytes: AsyncIterable<Buffer>;
  /** The say's result (rejects with its error). */
  result: Promise<SayResult>;
}

/** True when `shape` is served by the say's own encoded bytes (no transcoding). */
function direct(shape: StreamShape): shape is StreamShape & { format: OutputFormat } {
  return shape.speed === 1 && (shape.format === 'opus' || shape.format === 'mp3' || shape.format === 'wav');
}

/** The format the say is made in for `shape` (see the module comment). */
export function sayFormatFor(shape: StreamShape): OutputFormat {
  return direct(shape) ? shape.format : 'wav';
}

/**
 * Starts (or joins, or finds in the cache) the say of `request` and streams it as `shape`. `request.format`
 * must be `sayFormatFor(shape)`. Aborting `signal` stops reading; the synthesis stops when no other request
 * waits on it.
 * @throws at once what `SayService.begin` throws (ENGINE_NOT_FOUND, VOICE_NOT_FOUND, SHUTTING_DOWN, …).
 */
export async function streamSay(
  deps: { sayService: SayService; bitrateKbps: number },
  request: SayRequest,
  shape: StreamShape,
  signal: AbortSignal,
): Promise<SayStream> {
  const ticket = await deps.sayService.begin(request, signal);
  ticket.done.catch(() => {});
  const job = runningJob(deps.sayService, ticket);
  const bytes = direct(shape)
    ? encodedBytes(deps.sayService, ticket, signal)
    : fromPcm(sayPcmOf(deps.sayService, ticket, signal), shape, {
        bitrateKbps: deps.bitrateKbps,
        pool: deps.sayService.encoderPool,
        signal,
        hold: job ? (ready) => job.holdFirstOutput(ready) : undefined,
      });
  return { cached: ticket.cached, bytes, result: ticket.done };
}

/** The live job of a say that is not a cache hit, unless it failed (then its final file serves). */
function runningJob(service: SayService, ticket: SayTicket): LiveJob | undefined {
  const job = ticket.cached ? undefined : service.liveAudio(ticket.audio.key, ticket.audio.format);
  return job && job.state !== 'failed' ? job : undefined;
}

/** The say's own encoded bytes: the live job's while it runs, else the cached file's. */
async function* encodedBytes(
  service: SayService,
  ticket: SayTicket,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const job = runningJob(service, ticket);
  if (job) {
    yield* job.subscribe() as AsyncIterable<Buffer>;
    return;
  }
  const final = await ticket.audio.ready(signal);
  yield* openAudio(final, undefined, signal) as AsyncIterable<Buffer>;
}

/**
 * The say's PCM (one format): the live job's PCM while it runs, else the final file's (a WAV is read as it
 * is; another format is decoded with ffmpeg).
 * @throws the say's error; AppError FFMPEG_FAILED, ENGINE_BAD_RESPONSE for a broken file.
 */
export async function* sayPcmOf(
  service: SayService,
  ticket: SayTicket,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk> {
  const job = runningJob(service, ticket);
  if (job) {
    let any = false;
    for await (const chunk of job.subscribePcm()) {
      any = true;
      yield chunk;
    }
    // No PCM: the audio was replayed from a cached file (a fallback engine's); read that below.
    if (any) return;
  }
  const final = await ticket.audio.ready(signal);
  yield* filePcm(final, final.format, signal);
}

/**
 * The PCM of cached audio (a file, or bytes held in memory while the disk refuses writes): a WAV parsed as it
 * is read, another format decoded by ffmpeg to WAV first.
 */
export async function* filePcm(
  source: AudioSource,
  format: OutputFormat,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk> {
  if (format === 'wav') {
    yield* parseWavStream(openAudio(source, undefined, signal) as AsyncIterable<Buffer>);
    return;
  }
  const input = ffmpegInput(source);
  const proc = runFfmpeg([...input.args, '-f', 'wav', '-c:a', 'pcm_s16le', 'pipe:1'], signal);
  proc.stdin.end(input.stdin);
  yield* parseWavStream(proc.stdout as AsyncIterable<Buffer>);
  await proc.done;
}

/** PCM as a streamed WAV: our header (unknown length) in the first chunk's format, then the samples. */
async function* asWav(pcm: AsyncIterable<AudioChunk>): AsyncGenerator<Buffer> {
  let format: AudioFormat | undefined;
  for await (const chunk of pcm) {
    if (!format) {
      format = chunk.format;
      yield wavHeader(format, WAV_UNKNOWN_DATA_BYTES);
    }
    yield chunk.pcm;
  }
}

/**
 * How `fromPcm` encodes: the Opus bitrate (kbit/s), the spare pool (if any), the caller's signal, and where an
 * ffmpeg encode says when its first output exists (the live job's `holdFirstOutput`; undefined on a hit).
 */
interface FromPcmOptions {
  bitrateKbps: number;
  pool: EncoderPool | undefined;
  signal: AbortSignal;
  hold: ((ready: Promise<void>) => void) | undefined;
}

/**
 * `pcm` in `shape`'s format and speed (see the module comment). At speed 1 the ffmpeg is taken from the spare
 * pool when one waits, and a finished encode starts the next spare, so the next request pays no start-up.
 */
async function* fromPcm(
  pcm: AsyncIterable<AudioChunk>,
  shape: StreamShape,
  { bitrateKbps, pool, signal, hold }: FromPcmOptions,
): AsyncGenerator<Buffer> {
  const it = pcm[Symbol.asyncIterator]();
  const rest: AsyncIterable<AudioChunk> = { [Symbol.asyncIterator]: () => it };
  if (shape.format === 'pcm' && shape.speed === 1) {
    // Mono 16-bit (what engines give) is resampled in process, once (audio/resampler.ts); no ffmpeg.
    const first = await it.next();
    if (first.done) return;
    const format = first.value.format;
    if (format.widthBytes === 2 && format.channels === 1) {
      yield* resampleMono(prepend(first.value, rest), format.rateHz);
      return;
    }
    yield* startFfmpegPipe(wavToStreamArgs('pcm', 1, bitrateKbps), signal).run(
      asWav(prepend(first.value, rest)),
    );
    return;
  }
  // ffmpeg starts now, before the first PCM exists, so its start-up overlaps synthesis. Whatever way this
  // generator ends, an ffmpeg still running is killed (`discard` after a finished run does nothing).
  const args = wavToStreamArgs(shape.format, shape.speed, bitrateKbps);
  const pooled = pool && shape.speed === 1 ? pool : undefined;
  const ffmpeg = startFfmpegPipe(args, signal, pooled ? (a, s) => pooled.take(a, s) : undefined);
  // The engine's second sentence waits (bounded) for ffmpeg's first output: LiveJob.holdFirstOutput.
  let firstOut: () => void = () => {};
  hold?.(
    new Promise<void>((resolve) => {
      firstOut = resolve;
    }),
  );
  try {
    const first = await it.next();
    if (first.done) return;
    const format = first.value.format;
    // ffmpeg writes raw s16le for wav, at the source's rate and channels (atempo keeps both).
    if (shape.format === 'wav') yield wavHeader({ ...format, widthBytes: 2 }, WAV_UNKNOWN_DATA_BYTES);
    for await (const out of ffmpeg.run(asWav(prepend(first.value, rest)))) {
      firstOut();
      yield out;
    }
    pooled?.refill(args);
  } finally {
    firstOut();
    ffmpeg.discard();
  }
}

/** Mono s16le PCM at `fromHz` as s16le at OPENAI_PCM_RATE_HZ (passed through when it already is). */
async function* resampleMono(chunks: AsyncIterable<AudioChunk>, fromHz: number): AsyncGenerator<Buffer> {
  if (fromHz === OPENAI_PCM_RATE_HZ) {
    for await (const chunk of chunks) yield chunk.pcm;
    return;
  }
  const resampler = await createResampler(fromHz, OPENAI_PCM_RATE_HZ, 1);
  try {
    for await (const chunk of chunks) {
      const out = resampler.push(chunk.pcm);
      if (out.length > 0) yield out;
    }
    const tail = resampler.finish();
    if (tail.length > 0) yield tail;
  } finally {
    resampler.release();
  }
}

async function* prepend<T>(first: T, rest: AsyncIterable<T>): AsyncGenerator<T> {
  yield first;
  yield* rest;
}
