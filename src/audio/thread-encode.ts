/**
 * The in-process Ogg Opus encode run on an encode thread (encode-pool.ts): the same contract as the main-thread
 * encode in inprocess-encoder.ts (PCM chunks in, Ogg pages out as they are completed), with the source read on
 * the main thread and the PCM moved to the thread. Reading the source and handing out pages run side by side,
 * so pages reach listeners while the engine still speaks; the source is not read further while WINDOW_MS of PCM
 * sent to the thread has pages the consumer has not taken yet (back-pressure from the consumer to the engine,
 * and the engine's next sentence asked for only once the current one is encoded).
 */
import { AppError, toAppError } from '../shared/errors.js';
import { convertPcm } from './convert.js';
import type { EncodeChannel, EncodePool, EncodeSink } from './encode-pool.js';
import type { FromEncodeThread } from './encode-protocol.js';
import { pcmBytesFor } from './format.js';
import type { InProcessEncodeOptions } from './inprocess-encoder.js';

/**
 * PCM in flight to the thread and not yet answered by pages the consumer took, in ms, before reading pauses.
 * Small on purpose: like the main-thread encode, the source is read further only once what it gave is (nearly)
 * encoded, so a say asks the engine for its next sentence only then (say/speech.ts ENCODED_WAIT_MS: an encode
 * beside Piper's next sentence slowed both on two cores). Engines that stream small chunks still flow.
 */
const WINDOW_MS = 250;

type ThreadMessage = Exclude<FromEncodeThread, { t: 'ready' }>;

/** Waits until `wake` is called or `signal` aborts (no listener is left behind). */
function waitFor(signal: AbortSignal, arm: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    arm(done);
  });
}

/** One encode's messages from its thread, and the failure that ends it (thread death, source error). */
class Inbox implements EncodeSink {
  private readonly items: ThreadMessage[] = [];
  private failure: { err: unknown } | undefined;
  private wake: (() => void) | undefined;

  onMessage(m: ThreadMessage): void {
    this.items.push(m);
    this.notify();
  }

  onThreadDeath(err: AppError): void {
    this.fail(err);
  }

  /** Ends the encode with `err` (thrown as it is) after the pages already received. */
  fail(err: unknown): void {
    this.failure ??= { err };
    this.notify();
  }

  /** The next message. @throws the abort reason, or the failure once every earlier message was taken. */
  async next(signal: AbortSignal): Promise<ThreadMessage> {
    for (;;) {
      if (signal.aborted) throw toAppError(signal.reason);
      const m = this.items.shift();
      if (m) return m;
      if (this.failure) throw this.failure.err;
      await waitFor(signal, (wake) => {
        this.wake = wake;
      });
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** PCM bytes sent and not yet answered by pages the consumer took; the reader waits while over the window. */
class Credit {
  private outstanding = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly windowBytes: number) {}

  take(bytes: number): void {
    this.outstanding += bytes;
  }

  give(bytes: number): void {
    this.outstanding -= bytes;
    if (this.outstanding < this.windowBytes) {
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    }
  }

  /** Resolves once under the window, or when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    while (this.outstanding >= this.windowBytes && !signal.aborted) {
      await waitFor(signal, (wake) => {
        this.wake = wake;
      });
    }
  }
}

/**
 * Reads the source and sends its PCM (converted to the first chunk's format) to the thread until the source ends
 * (then asks for the last pages) or `stop` aborts (then returns the source).
 * @throws the source's own error as is.
 */
async function pump(
  o: InProcessEncodeOptions,
  channel: EncodeChannel,
  credit: Credit,
  stop: AbortSignal,
  state: { inSource: boolean },
): Promise<void> {
  const format = o.first.format;
  const send = (pcm: Buffer): void => {
    o.onInput(pcm.length);
    credit.take(pcm.length);
    channel.push(pcm);
  };
  let ended = false;
  try {
    send(o.first.pcm);
    for (;;) {
      await credit.wait(stop);
      if (stop.aborted) return;
      state.inSource = true;
      const next = await o.rest.next().finally(() => {
        state.inSource = false;
      });
      if (next.done) break;
      if (stop.aborted) return;
      const pcm = convertPcm(next.value.pcm, next.value.format, format);
      if (pcm.length > 0) send(pcm);
    }
    ended = true;
    channel.finish();
  } finally {
    if (!ended) await o.rest.return?.().catch(() => {});
  }
}

/**
 * Encodes `o.first` and `o.rest` to Ogg Opus on a thread of `pool`, yielding pages as the thread completes them
 * (the header pages with the first audio page, then per 500 ms of speech and at the end of each chunk). Ending
 * the iteration early, an error or an abort abandons the encode on the thread and returns the source (at once,
 * or when a read of it that is under way settles).
 * @throws the source's own error as is; the abort reason (toAppError) when `o.signal` aborts; AppError
 *   ENCODER_FAILED when libopus fails or the thread dies mid-encode; SHUTTING_DOWN when the pool is stopped.
 */
export async function* encodeOpusOnThread(
  o: InProcessEncodeOptions,
  pool: EncodePool,
): AsyncGenerator<Buffer> {
  const f = o.first.format;
  const inbox = new Inbox();
  const credit = new Credit(pcmBytesFor(f, WINDOW_MS));
  let channel: EncodeChannel;
  try {
    channel = pool.open(f, o.settings, inbox);
  } catch (err) {
    await o.rest.return?.().catch(() => {});
    throw err;
  }
  const stop = new AbortController();
  const state = { inSource: false };
  const pumping = pump(o, channel, credit, stop.signal, state).catch((err: unknown) => inbox.fail(err));
  let finished = false;
  try {
    for (;;) {
      const m = await inbox.next(o.signal);
      if (m.t === 'error') throw new AppError('ENCODER_FAILED', m.message);
      if (m.bytes.length > 0) yield Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
      credit.give(m.consumedBytes);
      if (m.t === 'end') break;
    }
    if (o.signal.aborted) throw toAppError(o.signal.reason);
    finished = true;
  } finally {
    if (!finished) {
      channel.close();
      stop.abort();
    }
    // A source waiting for the engine is returned when its read settles (by the pump), not waited for here: a
    // thread that died must fail the say now, and the say's failure is what stops the engine.
    if (!state.inSource) await pumping;
  }
}
