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
 *
 * Limits (DESIGN "Delivery and limits"), each refused with an `error` event whose code says which: at most
 * `maxConnections` clients at once (LIMIT_REACHED, then closed); header lines, data and payloads over their
 * sizes, checked from the header before the body is read (PAYLOAD_TOO_LARGE, then closed); a client that
 * sends no complete event for `idleTimeoutMs` while no request of its runs is closed, and so is one that
 * does not read what it asked for within that time; the text of one request or stream is bounded by
 * `maxTextChars` (TEXT_TOO_LONG; see server-session.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AudioChunk } from '../audio/format.js';
import { AppError, toAppError } from '../shared/errors.js';
import type { Log } from '../shared/log.js';
import { type DecoderOptions, decodeEvents, encodeEvent } from './codec.js';
import { errorEvent, Session } from './server-session.js';
import type { WyomingVoiceChoice } from './tts.js';

export { SAMPLES_PER_CHUNK } from './server-session.js';

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

/** The running server. */
export interface WyomingServer {
  /** Listens on `host:port`. @throws the listen error (EADDRINUSE …). */
  start(): Promise<void>;
  /** Closes the listener and every connection, aborting syntheses in progress. */
  stop(): Promise<void>;
  /** The bound port (useful with port 0). */
  port(): number;
  /** Client connections open now. */
  connections(): number;
}

/** What the server is built from; limits default to the option defaults. */
export interface WyomingServerOptions {
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  provider: WyomingTtsProvider;
  log: Log;
  /** Clients at once (option `wyoming_server.max_connections`); default 16. */
  maxConnections?: number;
  /** Idle and stalled-write timeout, in ms; 0 never (option `wyoming_server.idle_timeout_s`); default 60 000. */
  idleTimeoutMs?: number;
  /** Header, data and payload limits of received events (options `max_event_kb`, `max_payload_kb`). */
  limits?: Pick<DecoderOptions, 'maxHeaderBytes' | 'maxDataBytes' | 'maxPayloadBytes'>;
  /** Longest text of one request or stream (option `max_text_chars`); default 2000. */
  maxTextChars?: number;
}

/** How long a refused connection may take to read its error event before it is destroyed, in ms. */
const REFUSED_LINGER_MS = 2000;

/** What `accept` needs from its server: the open sockets, their limit, the log and the per-connection loop. */
interface AcceptState {
  sockets: Set<Socket>;
  maxConnections: number;
  log: Log;
  serve: (socket: Socket) => Promise<void>;
}

/** Answers one refused connection (over `maxConnections`) with a LIMIT_REACHED error event, then closes it. */
function refuse(socket: Socket, state: AcceptState): void {
  const { log, sockets, maxConnections } = state;
  log.warn({ connections: sockets.size, maxConnections }, 'wyoming connection refused: too many');
  const text = `too many connections: ${maxConnections} at once (wyoming_server.max_connections)`;
  socket.end(encodeEvent(errorEvent(new AppError('LIMIT_REACHED', text))));
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}

/** Takes a new connection: refused over the limit, else served until it ends, then closed. */
function accept(socket: Socket, state: AcceptState): void {
  const { sockets, log } = state;
  socket.on('error', () => {});
  if (sockets.size >= state.maxConnections) {
    refuse(socket, state);
    return;
  }
  sockets.add(socket);
  socket.setNoDelay(true);
  state
    .serve(socket)
    .catch((err) => log.debug({ err: (err as Error).message }, 'wyoming connection ended'))
    .finally(() => {
      sockets.delete(socket);
      socket.end();
      // A client that never reads would keep a half-closed socket (and its buffers) forever.
      setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    });
}

/** Listens on `host:port`; @throws the listen error (e.g. EADDRINUSE). */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Builds the server; nothing listens until `start()`. */
export function createWyomingServer(opts: WyomingServerOptions): WyomingServer {
  const { log } = opts;
  const maxConnections = opts.maxConnections ?? 16;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const limits: DecoderOptions = {
    maxHeaderBytes: 64 * 1024,
    maxDataBytes: 64 * 1024,
    maxPayloadBytes: 256 * 1024,
    ...opts.limits,
  };
  const sockets = new Set<Socket>();
  const controller = new AbortController();

  const serve = async (socket: Socket): Promise<void> => {
    const connection = new AbortController();
    const signal = AbortSignal.any([controller.signal, connection.signal]);
    socket.once('close', () => connection.abort(new Error('connection closed')));
    const session = new Session({
      socket,
      provider: opts.provider,
      signal,
      maxTextChars: opts.maxTextChars ?? 2000,
      stallTimeoutMs: idleTimeoutMs,
      log,
    });
    const idle = idleTimer(socket, idleTimeoutMs, log);
    try {
      // The socket must outlive a decoding error: the error event still has to go out on it.
      for await (const event of decodeEvents(socket.iterator({ destroyOnReturn: false }), limits)) {
        idle.pause();
        try {
          await session.handle(event);
        } catch (err) {
          if (socket.destroyed) return;
          const e = toAppError(err);
          log.warn({ type: event.type, code: e.code, err: e.message }, 'wyoming request failed');
          await session.send(errorEvent(e));
        }
        idle.resume();
      }
    } catch (err) {
      // A frame over a limit or garbage: say why, then close (the stream cannot be resynchronized).
      const e = toAppError(err, 'WYOMING_PROTOCOL');
      log.warn({ code: e.code, err: e.message }, 'wyoming connection refused');
      if (!socket.destroyed) socket.write(encodeEvent(errorEvent(e)));
    } finally {
      idle.pause();
    }
  };

  const server: Server = createServer((socket) => accept(socket, { sockets, maxConnections, log, serve }));
  return {
    async start() {
      await listen(server, opts.port, opts.host ?? '0.0.0.0');
      log.info({ port: this.port(), maxConnections, idleTimeoutMs }, 'wyoming server listening');
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
    connections: () => sockets.size,
  };
}

/**
 * Closes `socket` when it stays idle `timeoutMs` (0: never) while running; `pause` while a request is handled
 * (the client waits for us then), `resume` after. Partial frames do not count as activity, so a client that
 * trickles bytes cannot hold a connection.
 */
function idleTimer(socket: Socket, timeoutMs: number, log: Log): { pause(): void; resume(): void } {
  let timer: NodeJS.Timeout | undefined;
  const resume = (): void => {
    if (timeoutMs <= 0 || socket.destroyed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      log.debug({ timeoutMs }, 'wyoming connection idle; closed');
      socket.destroy();
    }, timeoutMs);
    timer.unref();
  };
  resume();
  return { pause: () => clearTimeout(timer), resume };
}
