/**
 * A Wyoming TTS server: Home Assistant's Wyoming integration (or any Wyoming client) connects, asks `describe`
 * and gets `info` with our TTS programs, then `synthesize`s (or streams text) and gets PCM back.
 *
 * Protocol sources: OHF-Voice/wyoming 1.10 `wyoming/info.py` (Info, TtsProgram, TtsVoice: name, attribution
 * {name, url}, installed, description, version, languages, speakers [{name}], supports_synthesize_streaming),
 * `wyoming/tts.py` (synthesize {text, voice?}, synthesize-start {voice?}, synthesize-chunk {text},
 * synthesize-stop, synthesize-stopped), `wyoming/server.py` (one handler per connection, events in order) and
 * wyoming-piper 2.x `handler.py` for the sequences:
 *   - `synthesize` → `audio-start`, `audio-chunk`…, `audio-stop` (one group for the whole text);
 *   - `synthesize-start`, `synthesize-chunk`…, `synthesize-stop` → one audio group per finished sentence, then
 *     `synthesize-stopped`; a `synthesize` sent inside a stream (clients do, for compatibility) is ignored.
 * Failures answer an `error` event `{text, code}`. This module knows nothing of engines: a provider does the work.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import type { Log } from '../shared/log.js';
import { decodeEvents, encodeEvent, type WyomingEvent } from './codec.js';
import { createSentencePipeline, type SentencePipeline } from './sentence-pipeline.js';
import type { WyomingVoiceChoice } from './tts.js';

/** A voice as announced in `info` (wire shape of `TtsVoice`). */
export interface WyomingVoiceInfo {
  name: string;
  description: string | null;
  languages: string[];
  speakers: Array<{ name: string }> | null;
}

/** A TTS program as announced in `info` (one per engine). */
export interface WyomingProgramInfo {
  name: string;
  description: string | null;
  version: string | null;
  voices: WyomingVoiceInfo[];
}

/** What the server asks of the hub. */
export interface WyomingTtsProvider {
  /** The programs and voices to announce. */
  programs(signal: AbortSignal): Promise<WyomingProgramInfo[]>;
  /** Speaks `text`; yields PCM (one format for the whole text). @throws AppError as the say service does. */
  synthesize(
    text: string,
    voice: WyomingVoiceChoice | undefined,
    signal: AbortSignal,
  ): AsyncIterable<AudioChunk>;
}

/** Frames per `audio-chunk` event (wyoming-piper's default `--samples-per-chunk`). */
export const SAMPLES_PER_CHUNK = 1024;

/** Who made the programs, for `attribution` (required by the `Artifact` dataclass). */
const ATTRIBUTION = { name: 'TTS Hub', url: 'https://www.home-assistant.io/integrations/wyoming/' };

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

const SENTENCE_END = /[.!?。！？]+["'”’)\]]*\s+/g;

/** Splits `buffer` into finished sentences and the unfinished rest (a sentence ends in . ! ? and whitespace). */
export function takeSentences(buffer: string): { sentences: string[]; rest: string } {
  const sentences: string[] = [];
  let start = 0;
  for (const m of buffer.matchAll(SENTENCE_END)) {
    const end = (m.index ?? 0) + m[0].length;
    const s = buffer.slice(start, end).trim();
    if (s) sentences.push(s);
    start = end;
  }
  return { sentences, rest: buffer.slice(start) };
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

/** One client connection: events are handled in order, one at a time. */
class Session {
  private streaming = false;
  private pipeline: SentencePipeline | undefined;
  private pending = '';

  constructor(
    private readonly socket: Socket,
    private readonly provider: WyomingTtsProvider,
    private readonly signal: AbortSignal,
    private readonly log: Log,
  ) {}

  async send(event: WyomingEvent): Promise<void> {
    if (this.socket.destroyed) throw new Error('connection closed');
    if (!this.socket.write(encodeEvent(event))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          this.socket.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          this.socket.off('drain', onDrain);
          reject(new Error('connection closed'));
        };
        this.socket.once('drain', onDrain).once('close', onClose);
      });
    }
  }

  /** One audio group (`audio-start`, chunks of SAMPLES_PER_CHUNK frames, `audio-stop`) for `text`. */
  async speak(text: string, voice: WyomingVoiceChoice | undefined): Promise<void> {
    await this.sendGroup(this.provider.synthesize(text, voice, this.signal));
  }

  /** One audio group (`audio-start`, chunks of SAMPLES_PER_CHUNK frames, `audio-stop`) of `pcm`. */
  async sendGroup(pcm: AsyncIterable<AudioChunk>): Promise<void> {
    let format: AudioFormat | undefined;
    for await (const chunk of pcm) {
      if (!format) {
        format = chunk.format;
        await this.send({ type: 'audio-start', data: this.audioData(format) });
      }
      const step = SAMPLES_PER_CHUNK * format.widthBytes * format.channels;
      for (let i = 0; i < chunk.pcm.length; i += step) {
        await this.send({
          type: 'audio-chunk',
          data: this.audioData(format),
          payload: chunk.pcm.subarray(i, i + step),
        });
      }
    }
    if (!format) {
      format = { rateHz: 22050, widthBytes: 2, channels: 1 };
      await this.send({ type: 'audio-start', data: this.audioData(format) });
    }
    await this.send({ type: 'audio-stop', data: { timestamp: null } });
  }

  private audioData(f: AudioFormat): Record<string, unknown> {
    return { rate: f.rateHz, width: f.widthBytes, channels: f.channels, timestamp: null };
  }

  async handle(event: WyomingEvent): Promise<void> {
    const data = event.data;
    switch (event.type) {
      case 'describe': {
        const programs = await this.provider.programs(this.signal);
        await this.send({ type: 'info', data: infoData(programs) });
        return;
      }
      case 'synthesize': {
        if (this.streaming) return; // Sent inside a stream for compatibility; the chunks carry the text.
        const text = typeof data?.text === 'string' ? data.text : '';
        await this.speak(text, voiceOf(data));
        return;
      }
      case 'synthesize-start': {
        this.streaming = true;
        const voice = voiceOf(data);
        this.pending = '';
        // Sentences are spoken ahead while earlier ones are sent; the chunk handler never waits for audio.
        this.pipeline = createSentencePipeline({
          synthesize: (text, signal) => this.provider.synthesize(text, voice, signal),
          send: (pcm) => this.sendGroup(pcm),
          signal: this.signal,
        });
        return;
      }
      case 'synthesize-chunk': {
        if (!this.streaming || !this.pipeline) return;
        this.pending += typeof data?.text === 'string' ? data.text : '';
        const { sentences, rest } = takeSentences(this.pending);
        this.pending = rest;
        for (const s of sentences) this.pipeline.push(s);
        return;
      }
      case 'synthesize-stop': {
        const rest = this.pending.trim();
        const pipeline = this.pipeline;
        this.pending = '';
        this.streaming = false;
        this.pipeline = undefined;
        if (rest) pipeline?.push(rest);
        await pipeline?.finish();
        await this.send({ type: 'synthesize-stopped' });
        return;
      }
      default:
        this.log.debug({ type: event.type }, 'wyoming event ignored');
    }
  }
}

/** The running server. */
export interface WyomingServer {
  /** Listens on `host:port`. @throws the listen error (EADDRINUSE …). */
  start(): Promise<void>;
  /** Closes the listener and every connection, aborting syntheses in progress. */
  stop(): Promise<void>;
  /** The bound port (useful with port 0). */
  port(): number;
}

/** Builds the server; nothing listens until `start()`. @param host default 0.0.0.0. */
export function createWyomingServer(opts: {
  port: number;
  host?: string;
  provider: WyomingTtsProvider;
  log: Log;
}): WyomingServer {
  const { log } = opts;
  const sockets = new Set<Socket>();
  const controller = new AbortController();
  const serve = async (socket: Socket): Promise<void> => {
    const connection = new AbortController();
    const signal = AbortSignal.any([controller.signal, connection.signal]);
    socket.once('close', () => connection.abort(new Error('connection closed')));
    const session = new Session(socket, opts.provider, signal, log);
    for await (const event of decodeEvents(socket)) {
      try {
        await session.handle(event);
      } catch (err) {
        if (socket.destroyed) return;
        const e = err as { message?: string; code?: unknown };
        log.warn({ type: event.type, err: e.message }, 'wyoming request failed');
        await session.send({
          type: 'error',
          data: { text: e.message ?? String(err), code: typeof e.code === 'string' ? e.code : 'INTERNAL' },
        });
      }
    }
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    serve(socket)
      .catch((err) => log.debug({ err: (err as Error).message }, 'wyoming connection ended'))
      .finally(() => {
        sockets.delete(socket);
        socket.end();
      });
  });
  return {
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve();
        });
      });
      log.info({ port: this.port() }, 'wyoming server listening');
    },
    async stop() {
      controller.abort(new Error('wyoming server stopping'));
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
    port() {
      const a = server.address();
      return typeof a === 'object' && a ? a.port : opts.port;
    },
  };
}
