/**
 * The PCM of one say, sentence by sentence: sentences already in the phrase cache come from memory, the
 * others from the engine, one request per sentence (the next one is requested once the current one is
 * encoded: see ENCODED_WAIT_MS), joined back to back into one continuous stream. Engines that stream a whole
 * text sentence by sentence themselves get the whole text in one request. Optional loudness normalization per
 * sentence.
 */
import { performance } from 'node:perf_hooks';
import { type AudioChunk, type AudioFormat, pcmDurationMs } from '../audio/format.js';
import { applyGain, normalizationGainDb } from '../audio/loudness.js';
import { AppError } from '../shared/errors.js';
import type { Engine, TextMode } from '../tts/engine.js';
import type { Phrase, PhraseCache, PhraseVoice } from './phrases.js';

/** The text mode of `engine` (tts/engine.ts `TextMode`): its own declaration, `per-sentence` when it has none. */
export function textModeOf(engine: Engine): TextMode {
  return engine.textMode ?? 'per-sentence';
}

/** Length of the fade at each sentence edge, in ms: removes clicks where two sentences meet, inaudible otherwise. */
const EDGE_FADE_MS = 2;
/**
 * Longest wait for a sentence to be encoded before the next one is asked for, in ms. The next sentence is asked
 * for once the consumer (the encoder) asked for more, which an in-process encoder does once it has encoded the
 * current one: a local engine (Piper's ONNX runtime runs one thread per core, and they wait on each other)
 * loses more time to an encode running beside it than the encode takes alone; ten Piper sentences as
 * in-process Opus measured 1.10–1.19× (engine alone + encode) overlapped, 1.04× one after the other (issue 12).
 * An ffmpeg encoder takes PCM at once, so after the first sentence the speech also waits for `encoded`: beside
 * the engine's next sentence, ffmpeg (nice 10) got no CPU and the first MP3 sentence came out in two parts
 * 400 ms apart, with the listener's buffer empty in between. Later sentences do not wait for ffmpeg: the
 * listener is seconds ahead by then. The bound keeps an encoder held up elsewhere (a slow disk, a stalled
 * reader) from holding the engine up for longer; an encode takes ~20–70 ms per sentence.
 */
const ENCODED_WAIT_MS = 100;
/** Whole-text engines with normalization: audio held back to measure before the gain is fixed, in ms. */
const MEASURE_MS = 2000;

/** What to speak and how. */
export interface SpeechPlan {
  engine: Engine;
  voice: PhraseVoice;
  /** The whole (normalized) text, for `whole-text` mode. */
  text: string;
  sentences: string[];
  mode: TextMode;
  /** Where sentences are reused from and stored; `lookups: false` stores without reusing. */
  phrases: PhraseCache;
  lookups: boolean;
  /** Normalize each sentence to SPEECH_TARGET_LUFS. */
  loudnorm: boolean;
  /**
   * Settles when the encoder's output covers the PCM handed to it so far; the second sentence is asked for
   * only then (see ENCODED_WAIT_MS). Absent: the consumer asking for the next chunk is enough.
   */
  encoded?(): Promise<void>;
  /** Counts phrase-cache hits and engine requests, for stats. */
  onPhraseHit?(): void;
  onEngineRequest?(): void;
  /** Called after each engine request with its duration in ms (request sent → last audio received). */
  onEngineTime?(ms: number): void;
  /**
   * Called once, when the engine will be asked for nothing more: the last sentence's audio is in (or came from
   * the phrase cache), or the whole-text request ended. Not called when the speech fails or is aborted.
   */
  onEngineDone?(): void;
}

/** Reads a whole sentence from the engine into one buffer. @throws the engine's error; ENGINE_FAILED for no audio. */
async function collect(plan: SpeechPlan, sentence: string, signal: AbortSignal): Promise<Phrase> {
  plan.onEngineRequest?.();
  const { voice, speaker, language } = plan.voice;
  const parts: Buffer[] = [];
  let format: AudioFormat | undefined;
  const t0 = performance.now();
  for await (const chunk of plan.engine.synthesize({ text: sentence, voice, speaker, language }, signal)) {
    if (chunk.pcm.length === 0) continue;
    format ??= chunk.format;
    parts.push(chunk.pcm);
  }
  plan.onEngineTime?.(performance.now() - t0);
  if (!format)
    throw new AppError('ENGINE_FAILED', `the engine produced no audio for '${sentence.slice(0, 60)}'`);
  return { format, pcm: Buffer.concat(parts) };
}

/** A copy of 16-bit PCM with short linear fades at its start and end. */
export function fadeEdges(pcm: Buffer, format: AudioFormat, ms = EDGE_FADE_MS): Buffer {
  if (format.widthBytes !== 2) return pcm;
  const frameBytes = 2 * format.channels;
  const frames = Math.floor(pcm.length / frameBytes);
  const ramp = Math.min(Math.floor(frames / 2), Math.round((format.rateHz * ms) / 1000));
  const out = Buffer.from(pcm);
  for (let i = 0; i < ramp; i++) {
    const g = i / ramp;
    for (let c = 0; c < format.channels; c++) {
      const head = i * frameBytes + c * 2;
      const tail = (frames - 1 - i) * frameBytes + c * 2;
      out.writeInt16LE(Math.round(out.readInt16LE(head) * g), head);
      out.writeInt16LE(Math.round(out.readInt16LE(tail) * g), tail);
    }
  }
  return out;
}

/**
 * Yields the speech of `plan` as PCM chunks, one chunk per sentence in `per-sentence` mode. Stops the engine
 * when `signal` aborts or the consumer stops reading.
 * @throws the engine's errors (ENGINE_FAILED, ENGINE_UNAVAILABLE, …) and the abort reason.
 */
export async function* speak(plan: SpeechPlan, signal: AbortSignal): AsyncGenerator<AudioChunk> {
  if (plan.mode === 'whole-text') {
    yield* speakWhole(plan, signal);
    return;
  }
  const stop = new AbortController();
  const sig = AbortSignal.any([signal, stop.signal]);
  const fetchPhrase = (i: number): Promise<Phrase> => {
    const sentence = plan.sentences[i] as string;
    const hit = plan.lookups ? plan.phrases.get(plan.voice, sentence) : undefined;
    if (hit) {
      plan.onPhraseHit?.();
      return Promise.resolve(hit);
    }
    return collect(plan, sentence, sig).then((p) => {
      plan.phrases.set(plan.voice, sentence, p);
      return p;
    });
  };
  const prepare = (phrase: Phrase): AudioChunk => {
    const gainDb = plan.loudnorm ? normalizationGainDb(phrase.pcm, phrase.format) : 0;
    return {
      format: phrase.format,
      pcm: fadeEdges(applyGain(phrase.pcm, phrase.format, gainDb), phrase.format),
    };
  };
  try {
    let next: Promise<Phrase> | undefined = plan.sentences.length > 0 ? fetchPhrase(0) : undefined;
    for (let i = 0; next; i++) {
      const phrase = await next;
      if (i === plan.sentences.length - 1) plan.onEngineDone?.();
      // The next sentence is asked for once this one is encoded, or after ENCODED_WAIT_MS (see there).
      const ahead = i + 1 < plan.sentences.length ? deferred(() => fetchPhrase(i + 1)) : undefined;
      try {
        yield prepare(phrase);
        if (ahead) await Promise.race([i === 0 ? plan.encoded?.() : undefined, ahead.started]);
      } finally {
        ahead?.cancel();
      }
      next = ahead?.start();
    }
  } finally {
    stop.abort(new AppError('ABORTED', 'speech no longer needed'));
  }
}

/**
 * The next sentence's request: `start()` sends it (once; later calls return the same promise), and so does a
 * timer ENCODED_WAIT_MS from now unless `cancel()`ed first; `started` settles when it was sent.
 */
function deferred(fetch: () => Promise<Phrase>): {
  start(): Promise<Phrase>;
  started: Promise<void>;
  cancel(): void;
} {
  let request: Promise<Phrase> | undefined;
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const start = (): Promise<Phrase> => {
    if (!request) {
      request = fetch();
      request.catch(() => {}); // awaited on the next turn; a failure there is reported there
      markStarted();
    }
    return request;
  };
  const timer = setTimeout(start, ENCODED_WAIT_MS);
  return {
    start: () => {
      clearTimeout(timer);
      return start();
    },
    started,
    cancel: () => clearTimeout(timer),
  };
}

/** One request for the whole text; with normalization, the gain is measured on the first MEASURE_MS. */
async function* speakWhole(plan: SpeechPlan, signal: AbortSignal): AsyncGenerator<AudioChunk> {
  plan.onEngineRequest?.();
  const { voice, speaker, language } = plan.voice;
  const t0 = performance.now();
  const source = plan.engine.synthesize({ text: plan.text, voice, speaker, language }, signal);
  if (!plan.loudnorm) {
    // The engine streams as the consumer reads: its time is the whole read (it paces itself, not the encoder).
    yield* source;
    plan.onEngineTime?.(performance.now() - t0);
    plan.onEngineDone?.();
    return;
  }
  const held: AudioChunk[] = [];
  let heldMs = 0;
  let gainDb: number | undefined;
  for await (const chunk of source) {
    if (gainDb !== undefined) {
      yield { format: chunk.format, pcm: applyGain(chunk.pcm, chunk.format, gainDb) };
      continue;
    }
    held.push(chunk);
    heldMs += pcmDurationMs(chunk.pcm.length, chunk.format);
    if (heldMs >= MEASURE_MS) {
      gainDb = measured(held);
      for (const c of held.splice(0)) yield { format: c.format, pcm: applyGain(c.pcm, c.format, gainDb) };
    }
  }
  plan.onEngineDone?.();
  if (gainDb === undefined && held.length) {
    const g = measured(held);
    for (const c of held) yield { format: c.format, pcm: applyGain(c.pcm, c.format, g) };
  }
  plan.onEngineTime?.(performance.now() - t0);
}

/** The normalization gain of held chunks, measured on those at the first chunk's rate. */
function measured(chunks: AudioChunk[]): number {
  const first = chunks[0] as AudioChunk;
  const same = chunks.filter((c) => c.format.rateHz === first.format.rateHz);
  return normalizationGainDb(Buffer.concat(same.map((c) => c.pcm)), first.format);
}
