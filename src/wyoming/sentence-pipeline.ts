/**
 * Pipelined speech of a sentence stream (Wyoming streaming synthesis): every sentence handed to `push` starts
 * synthesizing at once (the engine's own parallel limit queues what it cannot take yet), while earlier
 * sentences are still being sent; audio leaves strictly in sentence order, one group per sentence. A sentence
 * that finishes before its turn waits in memory. Every group after the first is converted to the first
 * group's format, because a client may write one WAV header for the whole stream (Home Assistant's
 * `homeassistant/components/wyoming/tts.py` `async_stream_tts_audio` does: the header comes from the first
 * `audio-start` only).
 */
import { setMaxListeners } from 'node:events';
import { convertPcm } from '../audio/convert.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';

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

  constructor(source: AsyncIterable<AudioChunk>) {
    this.fill(source).catch(() => {});
  }

  private async fill(source: AsyncIterable<AudioChunk>): Promise<void> {
    try {
      for await (const chunk of source) {
        this.chunks.push(chunk);
        this.wake?.();
      }
    } catch (err) {
      this.error = err;
    } finally {
      this.done = true;
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

/** Creates a pipeline; aborting `signal` stops every sentence. */
export function createSentencePipeline(opts: {
  synthesize: SynthesizeSentence;
  send: SendGroup;
  signal: AbortSignal;
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

  return {
    push(sentence) {
      const ahead = new Ahead(opts.synthesize(sentence, signal));
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
