/**
 * One attempt of a live synthesis on one engine: sentences (phrase cache or engine) → PCM → one ffmpeg
 * (started before the first PCM) → the live job's listeners and the cache writer at once → an atomic commit.
 * A failed attempt aborts the cache write (no entry) and leaves the live job to the caller: a fallback
 * restarts it, a final failure fails it.
 */
import { performance } from 'node:perf_hooks';
import type { OpusEncoderKind } from '../audio/encoder.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import type { CacheEntry, CacheStore, CacheWriter } from '../cache/store.js';
import { type MixPlan, mixAround } from '../chimes/mix.js';
import { AppError } from '../shared/errors.js';
import type { EngineEntry } from '../tts/dispatcher.js';
import type { AttemptVoice } from './attempt-voice.js';
import type { LiveJob } from './live-audio.js';
import { type EncoderPool, type LiveEncoder, startLiveEncoder } from './live-encoder.js';
import { tapFormat, tapPcm } from './live-tap.js';
import type { Phrase, PhraseCache } from './phrases.js';
import type { SayRequest } from './request.js';
import { splitSentences } from './sentences.js';
import { speak, textModeOf } from './speech.js';

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
  /**
   * Called once the engine is asked for nothing more (its last sentence's audio is in): the dispatcher then
   * frees the engine's slot for the next request while this attempt encodes and commits.
   */
  onEngineDone?: () => void;
}

/** What an attempt counts while it speaks: engine requests, phrase-cache hits, the engine's time. */
class AttemptTally {
  /** The engine was asked for anything in this attempt. */
  ran = false;
  phraseHits = 0;
  /** Time the engine spent on this attempt's requests, in ms. */
  engineMs = 0;

  constructor(
    private readonly deps: AttemptDeps,
    private readonly engine: string,
  ) {}

  readonly onPhraseHit = (): void => {
    this.phraseHits++;
    this.deps.onPhraseHit();
  };

  readonly onEngineRequest = (): void => {
    if (!this.ran) this.deps.onEngineRun(this.engine);
    this.ran = true;
    this.deps.onEngineRequest(this.engine);
  };

  readonly onEngineTime = (ms: number): void => {
    this.engineMs += ms;
  };
}

/** Starts the attempt's encoder before the first PCM, in the format it will most likely get. */
function startEncoder(
  deps: AttemptDeps,
  input: AttemptInput,
  first: Phrase | undefined,
  signal: AbortSignal,
) {
  const chimed = input.mix?.before !== undefined || input.mix?.after !== undefined;
  const engine = input.entry.engine.name;
  return startLiveEncoder({
    settings: {
      format: input.request.format,
      bitrateKbps: deps.bitrateKbps,
      gainDb: input.entry.gainDb,
      encoder: deps.opus.encoder,
      complexity: deps.opus.complexity,
    },
    // With a chime the encoder's input is the chime's format, known now: the chime is encoded at once.
    guess: chimed ? input.mix?.format : (first?.format ?? deps.lastFormat.get(engine)),
    signal,
    pool: deps.pool,
  });
}

/**
 * How far an encoder's output may trail its input and still count as caught up, in ms: at the end of a
 * sentence ffmpeg's MP3 (its encoder delay, the frame being filled, the resampler) trailed the input by
 * 130–170 ms until more input or the end came.
 */
const ENCODER_LAG_MS = 250;

/** An attempt's encoded output: when it first came, and when it has caught up with the input (speech.ts waits). */
interface OutputTracker {
  /** performance.now() of the first encoded bytes; 0 before. */
  at: number;
  /** Call for every encoded buffer. */
  mark(): void;
  /** Settles once the output covers the input up to ENCODER_LAG_MS. */
  encoded(): Promise<void>;
}

/** The output tracker of `encoder` (see OutputTracker). */
function outputTracker(encoder: LiveEncoder): OutputTracker {
  const waiters: Array<() => void> = [];
  const caughtUp = (): boolean => encoder.outputMs >= encoder.inputDurationMs - ENCODER_LAG_MS;
  const tracker: OutputTracker = {
    at: 0,
    mark() {
      tracker.at ||= performance.now();
      if (caughtUp()) for (const resolve of waiters.splice(0)) resolve();
    },
    encoded() {
      if (caughtUp()) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
  return tracker;
}

/** The attempt's PCM: its sentences (phrase cache or engine), with the chimes mixed around them. */
function attemptPcm(
  deps: AttemptDeps,
  input: AttemptInput,
  sentences: string[],
  hooks: { tally: AttemptTally; encoded(): Promise<void>; seen(format: AudioFormat): void },
  signal: AbortSignal,
): AsyncIterable<AudioChunk> {
  const speech = speak(
    {
      engine: input.entry.engine,
      voice: input.voice,
      text: input.request.text,
      sentences,
      mode: textModeOf(input.entry.engine),
      phrases: deps.phrases,
      lookups: input.lookups,
      loudnorm: input.loudnorm,
      onPhraseHit: hooks.tally.onPhraseHit,
      onEngineTime: hooks.tally.onEngineTime,
      onEngineRequest: hooks.tally.onEngineRequest,
      onEngineDone: input.onEngineDone,
      encoded: hooks.encoded,
    },
    signal,
  );
  const tapped = tapFormat(speech, hooks.seen);
  return input.mix ? mixAround(tapped, input.mix) : tapped;
}

/**
 * Commits the written audio. @throws AppError CACHE_IO when the audio is larger than the whole cache.
 */
async function commitAttempt(
  writer: CacheWriter,
  input: AttemptInput,
  durationMs: number,
): Promise<CacheEntry> {
  const committed = await writer.commit({
    text: input.request.text,
    engine: input.entry.engine.name,
    voice: input.voice.voice ?? '',
    durationMs,
  });
  if (!committed) {
    throw new AppError(
      'CACHE_IO',
      `the audio (${durationMs} ms) is larger than the whole cache; raise cache.max_mb (or cache.memory_mb while the disk is full)`,
    );
  }
  return committed;
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
  const sentences = splitSentences(request.text, voice.language);
  const first = input.lookups && sentences[0] ? deps.phrases.get(voice, sentences[0]) : undefined;
  const encoder = startEncoder(deps, input, first, signal);
  const writer = deps.cache.beginWrite(voice.keyFor(request.format), request.format);
  const tally = new AttemptTally(deps, entry.engine.name);
  const output = outputTracker(encoder);
  let speechFormat: AudioFormat | undefined;
  try {
    const pcm = attemptPcm(
      deps,
      input,
      sentences,
      {
        tally,
        // Caught up: the encoder's output, and the first output of readers that re-encode (LiveJob.holdFirstOutput).
        encoded: () => Promise.all([output.encoded(), job.holdsSettled()]).then(() => {}),
        seen: (f) => (speechFormat ??= f),
      },
      signal,
    );
    // The PCM listeners hear what the file holds: chimes included, gain applied.
    for await (const buf of encoder.encode(tapPcm(pcm, job, entry.gainDb))) {
      output.mark();
      job.push(buf);
      await writer.write(buf);
    }
    // The engine's own format (not the chime's), so the next encode of this engine is started with it.
    const learned = speechFormat ?? encoder.inputFormat;
    if (learned) deps.lastFormat.set(entry.engine.name, learned);
    const committed = await commitAttempt(writer, input, Math.round(encoder.inputDurationMs));
    const synthesized = tally.ran && tally.phraseHits === 0;
    return {
      entry: committed,
      voice,
      cached: false,
      firstAudioAt: output.at,
      synthesized,
      engineMs: tally.engineMs,
    };
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  } finally {
    encoder.close();
  }
}
