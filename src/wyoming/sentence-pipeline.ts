/**
 * Pipelined speech of a sentence stream (Wyoming streaming synthesis): the first sentence starts synthesizing
 * at once; every later one as soon as the first sentence's audio exists (or after FIRST_AUDIO_WAIT_MS), then
 * each at once as it is pushed (the engine's own parallel limit queues what it cannot take yet), while
 * earlier sentences are still being sent; audio leaves strictly in sentence order, one group per sentence. The
 * wait keeps the later sentences' starts (request checks, cache lookups, their engine requests when it takes
 * several at once) off the CPU while the first sentence, the one the listener waits for, is made: a local
 * engine such as Piper uses every core. A sentence
 * that finishes before its turn waits in memory. Every group after the first is converted to the first
 * group's format, because a client may write one WAV header for the whole stream (Home Assistant's
 * `homeassistant/components/wyoming/tts.py` `async_stream_tts_audio` does: the header comes from the first
 * `audio-start` only).
 */
import { setMaxListeners } from 'node:events';
import { convertPcm } from '../audio/convert.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';

/**
 * Longest wait for the first sentence's first audio before the later sentences start anyway, in ms: they are
 * needed only once the first sentence has been played (seconds), so starting them late costs nothing unless
 * the first sentence is very slow.
 */
export const FIRST_AUDIO_WAIT_MS = 1000;

/** Speaks one sentence (yields its PCM as it is made). */
export type SynthesizeSentence = (text: string, signal: AbortSignal) => AsyncIterable<AudioChunk>;

/** Sends one sentence's audio group (e.g. audio-start, audio-chunk…, audio-stop) as its PCM arrives. */
export type SendGroup = (chunks: AsyncIterable<AudioChunk>) => Promise<void>;

/** A pipeline in progress. */
export interface SentencePipeline {
  /** Starts synthesizing `sentence` now; its audio is sent after every sentence pushed before it. */
  push(sentence: string): void;
  /**
   * Resolves when every pushed sentence has been sent. Call once, after the last `push`.
   * @throws the first sentence's error (later sentences are then stopped), or the abort reason.
   */
  finish(): Promise<void>;
}

/** One sentence's PCM, collected from the moment it starts, readable once from the beginning. */
class Ahead {
  private readonly chunks: AudioChunk[] = [];
  private done = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  private markStarted: () => void = () => {};
  /** Settles when the sentence's first audio arrived, or it ended (failed or empty) without any. */
  readonly started = new Promise<void>((resolve) => {
    this.markStarted = resolve;
  });

  constructor(source: AsyncIterable<AudioChunk>) {
    this.fill(source).catch(() => {});
  }

  private async fill(source: AsyncIterable<AudioChunk>): Promise<void> {
    try {
      for await (const chunk of source) {
        this.chunks.push(chunk);
        this.markStarted();
        this.wake?.();
      }
    } catch (err) {
      this.error = err;
    } finally {
      this.done = true;
      this.markStarted();
      this.wake?.();
    }
  }

  /** Everything collected so far, then the rest as it comes. @throws the sentence's error. */
  async *read(): AsyncGenerator<AudioChunk> {
    for (let i = 0; ; ) {
      if (i < this.chunks.length) {
        yield this.chunks[i++] as AudioChunk;
        continue;
      }
      if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/**
 * Settles when `first` has its first audio (or ended), after `waitMs`, or when `signal` aborts, whichever
 * comes first.
 */
function firstAudioOrTimeout(first: Ahead, waitMs: number, signal: AbortSignal): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: () => void = () => {};
  const other = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([first.started, other]).finally(() => {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  });
}

/** `synthesize(text, signal)` started only once `ready` has settled. */
async function* startingAfter(
  ready: Promise<void>,
  synthesize: SynthesizeSentence,
  text: string,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk> {
  await ready;
  if (signal.aborted) throw signal.reason; // the stream failed or closed meanwhile: never started
  yield* synthesize(text, signal);
}

/** One event-loop turn (setImmediate): lets other work (HTTP, MQTT) run between two sentences' starts. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Creates a pipeline; aborting `signal` stops every sentence. `firstAudioWaitMs` (default FIRST_AUDIO_WAIT_MS)
 * bounds how long the later sentences wait for the first one's audio.
 */
export function createSentencePipeline(opts: {
  synthesize: SynthesizeSentence;
  send: SendGroup;
  signal: AbortSignal;
  firstAudioWaitMs?: number;
}): SentencePipeline {
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  // Every sentence in flight listens on it (a long text has dozens at once): that is not a leak.
  setMaxListeners(0, signal);
  let format: AudioFormat | undefined;
  let sending: Promise<void> = Promise.resolve();
  let failure: unknown;

  async function* sameFormat(chunks: AsyncIterable<AudioChunk>): AsyncGenerator<AudioChunk> {
    for await (const chunk of chunks) {
      format ??= chunk.format;
      yield { format, pcm: convertPcm(chunk.pcm, chunk.format, format) };
    }
  }

  // Later sentences start in push order, one per event-loop turn, once the first one's audio exists.
  let turn: Promise<void> | undefined;

  return {
    push(sentence) {
      let ahead: Ahead;
      if (turn === undefined) {
        ahead = new Ahead(opts.synthesize(sentence, signal));
        turn = firstAudioOrTimeout(ahead, opts.firstAudioWaitMs ?? FIRST_AUDIO_WAIT_MS, signal);
      } else {
        turn = turn.then(nextTurn);
        ahead = new Ahead(startingAfter(turn, opts.synthesize, sentence, signal));
      }
      sending = sending.then(async () => {
        if (failure !== undefined) return;
        try {
          await opts.send(sameFormat(ahead.read()));
        } catch (err) {
          failure = err;
          stop.abort(err);
        }
      });
    },
    async finish() {
      await sending;
      if (failure !== undefined) throw failure;
      if (opts.signal.aborted) throw opts.signal.reason;
    },
  };
}
