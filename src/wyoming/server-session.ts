/**
 * One connection of the Wyoming TTS server: events are handled in order, one at a time. Plain `synthesize`
 * answers one audio group; streaming (`synthesize-start`, `synthesize-chunk`…, `synthesize-stop`) answers one
 * audio group per sentence as the one sentence splitter (src/say/sentences.ts) completes it, then
 * `synthesize-stopped`. The first completed sentence starts synthesizing at once, the later ones as soon as
 * its audio exists, while earlier ones are still being sent; the audio leaves in sentence order
 * (sentence-pipeline.ts). The text of one stream is bounded by `maxTextChars`: past it the stream is refused with
 * TEXT_TOO_LONG and its later chunks are dropped, so an endless stream costs neither memory nor synthesis.
 *
 * Protocol sources: see server.ts (OHF-Voice/wyoming `wyoming/tts.py`, `wyoming/info.py`; wyoming-piper 2.x
 * `handler.py` for the sequences).
 */
import type { Socket } from 'node:net';
import { type AudioChunk, type AudioFormat, SPEECH_PCM_FORMAT } from '../audio/format.js';
import { createSentenceSplitter, type SentenceSplitter } from '../say/sentences.js';
import { AppError, errorBody } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { encodeEvent, type WyomingEvent } from './codec.js';
import { createSentencePipeline, type SentencePipeline } from './sentence-pipeline.js';
import type { WyomingProgramInfo, WyomingTtsProvider } from './server.js';
import type { WyomingVoiceChoice } from './tts.js';

/** Frames per `audio-chunk` event (wyoming-piper's default `--samples-per-chunk`). */
export const SAMPLES_PER_CHUNK = 1024;

/** Who made the programs, for `attribution` (required by the `Artifact` dataclass). */
const ATTRIBUTION = { name: 'TTS Hub', url: 'https://www.home-assistant.io/integrations/wyoming/' };

/**
 * The Wyoming `error` event for `err`, with the same body HTTP and MQTT answer (shared/errors.ts `errorBody`):
 * the catalogue code and its safe message (an unexpected error's internals stay in the log). Fields per
 * OHF-Voice/wyoming `wyoming/error.py` (`Error`: `text`, `code`).
 */
export function errorEvent(err: unknown): WyomingEvent {
  const body = errorBody(err);
  return { type: 'error', data: { text: body.message, code: body.code } };
}

/** The `info` event data for `programs`. */
function infoData(programs: WyomingProgramInfo[]): Record<string, unknown> {
  const tts = programs.map((p) => ({
    name: p.name,
    attribution: ATTRIBUTION,
    installed: true,
    description: p.description,
    version: p.version,
    voices: p.voices.map((v) => ({
      name: v.name,
      attribution: ATTRIBUTION,
      installed: true,
      description: v.description,
      version: null,
      languages: v.languages,
      speakers: v.speakers,
    })),
    supports_synthesize_streaming: true,
  }));
  return { asr: [], tts, handle: [], intent: [], wake: [], mic: [], snd: [] };
}

function voiceOf(data: Record<string, unknown> | undefined): WyomingVoiceChoice | undefined {
  const v = data?.voice;
  if (typeof v !== 'object' || v === null) return undefined;
  const pick = (k: string): string | undefined => {
    const x = (v as Record<string, unknown>)[k];
    return typeof x === 'string' && x ? x : undefined;
  };
  return { name: pick('name'), language: pick('language'), speaker: pick('speaker') };
}

/** A streaming synthesis in progress. */
interface Stream {
  voice: WyomingVoiceChoice | undefined;
  splitter: SentenceSplitter;
  /** Speaks each completed sentence at once, sending the audio in order (sentence-pipeline.ts). */
  pipeline: SentencePipeline;
  chars: number;
  /** Set once the stream went over `maxTextChars`: later chunks are dropped until `synthesize-stop`. */
  refused: boolean;
}

/** What a session needs. */
export interface SessionOptions {
  socket: Socket;
  provider: WyomingTtsProvider;
  /** Aborted when the connection closes or the server stops. */
  signal: AbortSignal;
  /** Longest text of one `synthesize` or one stream (option `max_text_chars`). */
  maxTextChars: number;
  /** A write the client does not drain within this many ms closes the connection; 0 never. */
  stallTimeoutMs: number;
  log: Log;
}

/** One client connection (see the module comment). */
export class Session {
  private stream: Stream | undefined;

  constructor(private readonly opts: SessionOptions) {}

  /** Writes one event, waiting for the socket to drain. @throws when the connection closed or stalled. */
  async send(event: WyomingEvent): Promise<void> {
    await this.sendAll([event]);
  }

  /**
   * Writes `events` in one socket write (one system call for a whole chunk's `audio-chunk` events instead of
   * one per event), waiting for the socket to drain. @throws when the connection closed or stalled.
   */
  async sendAll(events: WyomingEvent[]): Promise<void> {
    const { socket } = this.opts;
    if (socket.destroyed) throw new Error('connection closed');
    const bytes =
      events.length === 1 ? encodeEvent(events[0] as WyomingEvent) : Buffer.concat(events.map(encodeEvent));
    if (socket.write(bytes)) return;
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = this.opts.stallTimeoutMs;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              socket.destroy();
              reject(new Error(`client read nothing for ${timeoutMs} ms; connection closed`));
            }, timeoutMs)
          : undefined;
      const onDrain = (): void => {
        clearTimeout(timer);
        socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        reject(new Error('connection closed'));
      };
      socket.once('drain', onDrain).once('close', onClose);
    });
  }

  /** One audio group (`audio-start`, chunks of SAMPLES_PER_CHUNK frames, `audio-stop`) for `text`. */
  async speak(text: string, voice: WyomingVoiceChoice | undefined): Promise<void> {
    await this.sendGroup(this.opts.provider.synthesize(text, voice, this.opts.signal));
  }

  /** One audio group (`audio-start`, chunks of SAMPLES_PER_CHUNK frames, `audio-stop`) of `pcm`. */
  async sendGroup(pcm: AsyncIterable<AudioChunk>): Promise<void> {
    let format: AudioFormat | undefined;
    for await (const chunk of pcm) {
      const events: WyomingEvent[] = [];
      if (!format) {
        format = chunk.format;
        events.push({ type: 'audio-start', data: audioData(format) });
      }
      const step = SAMPLES_PER_CHUNK * format.widthBytes * format.channels;
      for (let i = 0; i < chunk.pcm.length; i += step) {
        events.push({
          type: 'audio-chunk',
          data: audioData(format),
          payload: chunk.pcm.subarray(i, i + step),
        });
      }
      // The chunk's events leave together: the client gets the same events, the hub makes one write.
      await this.sendAll(events);
    }
    if (!format) {
      format = SPEECH_PCM_FORMAT;
      await this.send({ type: 'audio-start', data: audioData(format) });
    }
    await this.send({ type: 'audio-stop', data: { timestamp: null } });
  }

  /**
   * Handles one event. @throws AppError TEXT_TOO_LONG (a stream over maxTextChars) and whatever synthesis
   * throws; the server answers those with an `error` event.
   */
  async handle(event: WyomingEvent): Promise<void> {
    const data = event.data;
    switch (event.type) {
      case 'describe': {
        const programs = await this.opts.provider.programs(this.opts.signal);
        await this.send({ type: 'info', data: infoData(programs) });
        return;
      }
      case 'synthesize': {
        if (this.stream) return; // Sent inside a stream for compatibility; the chunks carry the text.
        const text = typeof data?.text === 'string' ? data.text : '';
        await this.speak(text, voiceOf(data));
        return;
      }
      case 'synthesize-start': {
        const voice = voiceOf(data);
        const splitter = createSentenceSplitter({ language: voice?.language });
        // Sentences are spoken ahead while earlier ones are sent: the chunk handler never waits for audio.
        const pipeline = createSentencePipeline({
          synthesize: (text, signal) => this.opts.provider.synthesize(text, voice, signal),
          send: (pcm) => this.sendGroup(pcm),
          signal: this.opts.signal,
        });
        this.stream = { voice, splitter, pipeline, chars: 0, refused: false };
        return;
      }
      case 'synthesize-chunk':
        await this.chunk(typeof data?.text === 'string' ? data.text : '');
        return;
      case 'synthesize-stop': {
        const stream = this.stream;
        this.stream = undefined;
        if (stream && !stream.refused) {
          for (const sentence of stream.splitter.finish()) stream.pipeline.push(sentence);
        }
        await stream?.pipeline.finish();
        await this.send({ type: 'synthesize-stopped' });
        return;
      }
      default:
        this.opts.log.debug({ type: event.type }, 'wyoming event ignored');
    }
  }

  private async chunk(text: string): Promise<void> {
    const stream = this.stream;
    if (!stream || stream.refused) return;
    stream.chars += text.length;
    if (stream.chars > this.opts.maxTextChars) {
      stream.refused = true;
      throw new AppError(
        'TEXT_TOO_LONG',
        `the streamed text passed ${this.opts.maxTextChars} characters (max_text_chars); the rest of this stream is dropped`,
      );
    }
    for (const sentence of stream.splitter.push(text)) {
      stream.pipeline.push(sentence);
      // Each sentence's start (request checks, text clean-up, cache key, queueing) runs before the next one is
      // pushed, in its own turn of the event loop: one chunk that completes many sentences at once must not hold
      // HTTP and MQTT up for all of them (60,000 "!" made 58 sentences and a 200 ms stall, npm run bench -- faults).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

function audioData(f: AudioFormat): Record<string, unknown> {
  return { rate: f.rateHz, width: f.widthBytes, channels: f.channels, timestamp: null };
}
