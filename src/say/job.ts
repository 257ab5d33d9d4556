/**
 * One attempt of a live synthesis on one engine: sentences (phrase cache or engine) → PCM → one ffmpeg
 * (started before the first PCM) → the live job's listeners and the cache writer at once → an atomic commit.
 * A failed attempt aborts the cache write (no entry) and leaves the live job to the caller: a fallback
 * restarts it, a final failure fails it.
 */
import { performance } from 'node:perf_hooks';
import { convertPcm } from '../audio/convert.js';
import type { OpusEncoderKind } from '../audio/encoder.js';
import type { AudioChunk, AudioFormat, OutputFormat } from '../audio/format.js';
import { applyGain } from '../audio/loudness.js';
import { openAudio } from '../audio/source.js';
import { cacheKey } from '../cache/key.js';
import type { CacheEntry, CacheStore } from '../cache/store.js';
import { type MixPlan, mixAround } from '../chimes/mix.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import type { LiveJob } from './live-audio.js';
import { type EncoderPool, startLiveEncoder } from './live-encoder.js';
import type { PhraseCache, PhraseVoice } from './phrases.js';
import type { SayRequest } from './request.js';
import { splitSentences } from './sentences.js';
import { speak, textModeOf } from './speech.js';

/** The voice an attempt uses and the cache keys it produces. */
export interface AttemptVoice extends PhraseVoice {
  /** The cache key of this speech in `format`. */
  keyFor(format: OutputFormat): string;
}

/**
 * The voice of `request` on `entry`: the request's voice and speaker on the requested engine, the engine's own
 * defaults on a fallback (another engine would not know the requested voice). Loudness settings are part of
 * the key so changing them never serves old audio, and so is `mix` (chime hashes and timing, say-chimes.ts).
 */
export function attemptVoice(
  request: SayRequest,
  entry: EngineEntry,
  isFallback: boolean,
  loudnorm: boolean,
  mix?: Record<string, unknown>,
): AttemptVoice {
  const voice = isFallback ? entry.voice : (request.voice ?? entry.voice);
  const speaker = isFallback ? entry.speaker : (request.speaker ?? entry.speaker);
  const language = request.language ?? entry.language;
  const options: Record<string, unknown> = {};
  if (entry.gainDb) options.gain_db = entry.gainDb;
  if (loudnorm) options.loudnorm = true;
  return {
    engine: entry.engine.name,
    voice,
    speaker,
    language,
    keyFor: (format) =>
      cacheKey({
        engine: entry.engine.name,
        voice: voice ?? '',
        speaker,
        language,
        engineOptions: Object.keys(options).length ? options : undefined,
        format,
        text: request.text,
        mix,
      }),
  };
}

/** What an attempt produced: the committed entry and the time of its first encoded page. */
export interface Produced {
  entry: CacheEntry;
  voice: AttemptVoice;
  cached: boolean;
  /** performance.now() when the first encoded bytes existed. */
  firstAudioAt: number;
  /** Every sentence came from the engine in this attempt (no cache, no phrase cache): its time is the engine's. */
  synthesized?: boolean;
  /** Time the engine spent on this attempt's requests, in ms (their sum; encoding overlaps it). */
  engineMs?: number;
}

/** Shared collaborators and per-engine memory of the attempts. */
export interface AttemptDeps {
  cache: CacheStore;
  phrases: PhraseCache;
  bitrateKbps: number;
  /** Ogg Opus encoder and libopus complexity (`opus.encoder`, `opus.complexity`). */
  opus: { encoder: OpusEncoderKind; complexity: number };
  /** Last PCM format each engine produced: ffmpeg is started with it before the first chunk. */
  lastFormat: Map<string, AudioFormat>;
  /** Spare ffmpeg processes for the next live encode. */
  pool: EncoderPool;
  onPhraseHit(): void;
  /** Called once per attempt that asks its engine for anything (not for an all-phrase-cache attempt). */
  onEngineRun(engine: string): void;
  /** Called for every request sent to an engine (one per sentence in per-sentence mode). */
  onEngineRequest(engine: string): void;
}

/** One attempt's inputs. */
export interface AttemptInput {
  request: SayRequest;
  entry: EngineEntry;
  voice: AttemptVoice;
  job: LiveJob;
  lookups: boolean;
  loudnorm: boolean;
  /** Chimes and timing around the speech (prepared PCM); absent: plain speech. */
  mix?: MixPlan | undefined;
}

/**
 * Plays an already cached entry into the live job (a fallback engine whose audio was cached).
 * @throws AppError CACHE_IO when the file cannot be read.
 */
export async function replayEntry(entry: CacheEntry, job: LiveJob, signal: AbortSignal): Promise<number> {
  const at = performance.now();
  try {
    for await (const buf of openAudio(entry, undefined, signal)) job.push(buf as Buffer);
  } catch (err) {
    throw signal.aborted
      ? toAppError(signal.reason)
      : new AppError('CACHE_IO', `cannot read ${entry.path}`, { cause: err });
  }
  return at;
}

/** Passes `chunks` through, telling `seen` each non-empty chunk's format. */
async function* tapFormat(
  chunks: AsyncIterable<AudioChunk>,
  seen: (format: AudioFormat) => void,
): AsyncGenerator<AudioChunk> {
  for await (const chunk of chunks) {
    if (chunk.pcm.length) seen(chunk.format);
    yield chunk;
  }
}

/**
 * Passes `source` through unchanged while handing the job a copy for its PCM listeners: in the first chunk's
 * format throughout (the encoder converts the same way) and with the engine's `gain_db` applied (the encoder
 * applies it in ffmpeg), so PCM listeners hear what the encoded file holds.
 */
export async function* tapPcm(
  source: AsyncIterable<AudioChunk>,
  job: LiveJob,
  gainDb: number | undefined,
): AsyncGenerator<AudioChunk> {
  let format: AudioFormat | undefined;
  for await (const chunk of source) {
    if (chunk.pcm.length > 0) {
      format ??= chunk.format;
      const pcm = applyGain(convertPcm(chunk.pcm, chunk.format, format), format, gainDb ?? 0);
      job.pushPcm({ format, pcm });
    }
    yield chunk;
  }
}

/**
 * Runs one attempt (see the module comment).
 * @throws the engine's errors, FFMPEG_FAILED, CACHE_IO, DISK_FULL, the abort reason.
 */
export async function runAttempt(
  deps: AttemptDeps,
  input: AttemptInput,
  signal: AbortSignal,
): Promise<Produced> {
  const { request, entry, voice, job } = input;
  const format = request.format;
  const key = voice.keyFor(format);
  const sentences = splitSentences(request.text, voice.language);
  const first = input.lookups && sentences[0] ? deps.phrases.get(voice, sentences[0]) : undefined;
  const chimed = input.mix?.before !== undefined || input.mix?.after !== undefined;
  const encoder = startLiveEncoder({
    settings: {
      format,
      bitrateKbps: deps.bitrateKbps,
      gainDb: entry.gainDb,
      encoder: deps.opus.encoder,
      complexity: deps.opus.complexity,
    },
    // With a chime the encoder's input is the chime's format, known now: the chime is encoded at once.
    guess: chimed ? input.mix?.format : (first?.format ?? deps.lastFormat.get(entry.engine.name)),
    signal,
    pool: deps.pool,
  });
  const writer = deps.cache.beginWrite(key, format);
  let firstAudioAt = 0;
  let firstOutput: () => void = () => {};
  const firstOutputSeen = new Promise<void>((resolve) => {
    firstOutput = resolve;
  });
  let ran = false;
  let phraseHits = 0;
  let engineMs = 0;
  const onPhraseHit = (): void => {
    phraseHits++;
    deps.onPhraseHit();
  };
  const onEngineRequest = (): void => {
    if (!ran) deps.onEngineRun(entry.engine.name);
    ran = true;
    deps.onEngineRequest(entry.engine.name);
  };
  let speechFormat: AudioFormat | undefined;
  try {
    const speech = speak(
      {
        engine: entry.engine,
        voice,
        text: request.text,
        sentences,
        mode: textModeOf(entry.engine),
        phrases: deps.phrases,
        lookups: input.lookups,
        loudnorm: input.loudnorm,
        onPhraseHit,
        onEngineTime: (ms) => {
          engineMs += ms;
        },
        onEngineRequest,
        firstOutput: firstOutputSeen,
      },
      signal,
    );
    const tapped = tapFormat(speech, (f) => {
      speechFormat ??= f;
    });
    const pcm = input.mix ? mixAround(tapped, input.mix) : tapped;
    // The PCM listeners hear what the file holds: chimes included, gain applied.
    for await (const buf of encoder.encode(tapPcm(pcm, job, entry.gainDb))) {
      if (!firstAudioAt) {
        firstAudioAt = performance.now();
        firstOutput();
      }
      job.push(buf);
      await writer.write(buf);
    }
    // The engine's own format (not the chime's), so the next encode of this engine is started with it.
    const learned = speechFormat ?? encoder.inputFormat;
    if (learned) deps.lastFormat.set(entry.engine.name, learned);
    const durationMs = Math.round(encoder.inputDurationMs);
    const committed = await writer.commit({
      text: request.text,
      engine: entry.engine.name,
      voice: voice.voice ?? '',
      durationMs,
    });
    if (!committed) {
      throw new AppError(
        'CACHE_IO',
        `the audio (${durationMs} ms) is larger than the whole cache; raise cache.max_mb (or cache.memory_mb while the disk is full)`,
      );
    }
    return {
      entry: committed,
      voice,
      cached: false,
      firstAudioAt,
      synthesized: ran && phraseHits === 0,
      engineMs,
    };
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  } finally {
    encoder.close();
  }
}
