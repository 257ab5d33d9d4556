/**
 * A Wyoming TCP client: one connection to a Wyoming service (`tcp://host:port`), events out with `send`,
 * events in with `receive` or `for await`. Framing is in `codec.ts` (OHF-Voice/wyoming `wyoming/event.py`);
 * the URI form follows `wyoming/client.py` (`AsyncClient.from_uri`, schemes `tcp` and `unix`; only `tcp` here).
 */
import { createConnection, type Socket } from 'node:net';
import { AppError, type ErrorCode } from '../shared/errors.js';
import { type DecoderOptions, decodeEvents, encodeEvent, type WyomingEvent } from './codec.js';

/** Default connect timeout in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** How to reach a Wyoming service and what to call failures. */
export interface WyomingConnectOptions {
  /** Give up connecting after this many ms; default 5000. */
  connectTimeoutMs?: number;
  /** Aborting destroys the socket at once; pending and later calls reject with `signal.reason`. */
  signal?: AbortSignal;
  /** Code for "cannot connect" (refused, unresolvable, timeout); default ENGINE_UNAVAILABLE (sinks pass SINK_UNREACHABLE). */
  unreachableCode?: ErrorCode;
  /** Code for a connection lost after it was made (reset, write after close); default ENGINE_FAILED. */
  failedCode?: ErrorCode;
  /** Limits of the event decoder. */
  decoder?: DecoderOptions;
}

/** Host and port of a `tcp://host:port` Wyoming URI. */
export interface WyomingAddress {
  host: string;
  port: number;
}

/**
 * Parses `tcp://host:port` (IPv6 hosts in brackets).
 * @throws AppError CONFIG_INVALID on another scheme, a missing port, or a port out of range.
 */
export function parseWyomingUrl(url: string): WyomingAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `Wyoming URL '${url}' is not a URL; use tcp://host:port`, {
      cause: err,
    });
  }
  const port = Number(parsed.port);
  if (parsed.protocol !== 'tcp:' || parsed.hostname === '' || !Number.isInteger(port) || port < 1) {
    throw new AppError('CONFIG_INVALID', `Wyoming URL '${url}' must look like tcp://host:port`);
  }
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * An open connection. Not reusable after `close()`. Events are read in order by one reader at a time;
 * breaking out of a `for await` leaves the connection open (call `close()`).
 */
export class WyomingConnection implements AsyncIterable<WyomingEvent> {
  private readonly incoming: AsyncGenerator<WyomingEvent, void, undefined>;
  private closed = false;
  /** The signal of the current use of a pooled connection (see `attach`); else the connect signal. */
  private useSignal: AbortSignal | undefined;

  constructor(
    private readonly socket: Socket,
    readonly url: string,
    private readonly opts: WyomingConnectOptions,
  ) {
    this.incoming = decodeEvents(socket, opts.decoder);
  }

  /**
   * Writes one event; resolves when it is handed to the kernel.
   * @throws the abort reason when aborted; AppError `failedCode` when the connection is gone.
   */
  async send(event: WyomingEvent): Promise<void> {
    this.throwIfAborted();
    if (this.closed || this.socket.destroyed) throw this.lostError(new Error('connection is closed'));
    const bytes = encodeEvent(event);
    await new Promise<void>((resolve, reject) => {
      this.socket.write(bytes, (err) => (err ? reject(this.translate(err)) : resolve()));
    });
  }

  /**
   * The next event, or `undefined` when the peer closed the connection cleanly between events.
   * @throws AppError WYOMING_PROTOCOL on garbage or a close mid-event; AppError `failedCode` on a reset;
   *   the abort reason when aborted.
   */
  async receive(): Promise<WyomingEvent | undefined> {
    this.throwIfAborted();
    try {
      const next = await this.incoming.next();
      return next.done ? undefined : next.value;
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** Iterates events until the peer closes. Same errors as `receive`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<WyomingEvent, void, undefined> {
    for (;;) {
      const event = await this.receive();
      if (event === undefined) return;
      yield event;
    }
  }

  /** True while the socket is open both ways (a pooled connection the peer has not closed). */
  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && this.socket.readable && this.socket.writable;
  }

  /**
   * Binds one use of a pooled connection to `signal`: aborting it destroys the socket and pending and later calls
   * reject with its reason, as a connect signal does. Returns the function that unbinds it (call it before the
   * connection goes back to its pool). While unbound, the socket does not keep the process alive.
   */
  attach(signal: AbortSignal): () => void {
    this.useSignal = signal;
    this.socket.ref();
    const onAbort = (): void => this.close(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal.removeEventListener('abort', onAbort);
      if (this.useSignal === signal) this.useSignal = undefined;
      this.socket.unref();
    };
  }

  /** Destroys the socket (idempotent). With `reason`, a pending `receive` rejects with it. */
  close(reason?: Error): void {
    this.closed = true;
    this.socket.destroy(reason);
  }

  private throwIfAborted(): void {
    const signal = this.useSignal ?? this.opts.signal;
    if (signal?.aborted) throw signal.reason;
  }

  private translate(err: unknown): unknown {
    const signal = this.useSignal ?? this.opts.signal;
    if (signal?.aborted) return signal.reason;
    if (err instanceof AppError) return err;
    return this.lostError(err);
  }

  private lostError(cause: unknown): AppError {
    const message = cause instanceof Error ? cause.message : String(cause);
    return new AppError(
      this.opts.failedCode ?? 'ENGINE_FAILED',
      `connection to Wyoming service ${this.url} lost: ${message}`,
      { cause, details: { url: this.url } },
    );
  }
}

/** Resolves once `socket` connects; rejects (and destroys it) on error, timeout or abort. */
function waitForConnect(
  socket: Socket,
  url: string,
  timeoutMs: number,
  opts: WyomingConnectOptions,
): Promise<void> {
  const { signal } = opts;
  const unreachable = (reason: string, cause?: unknown): AppError =>
    new AppError(
      opts.unreachableCode ?? 'ENGINE_UNAVAILABLE',
      `cannot connect to Wyoming service at ${url}: ${reason}; check that it runs and the URL is right`,
      { cause, details: { url } },
    );
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(unreachable(`no connection after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(signal?.reason);
    const onError = (err: NodeJS.ErrnoException): void => fail(unreachable(err.code ?? err.message, err));
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('connect', onConnect);
    };
    function fail(err: unknown): void {
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onConnect(): void {
      cleanup();
      resolve();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

/**
 * Opens a TCP connection to a Wyoming service. Nagle is off (small events go out at once).
 * Aborting `signal` later destroys the socket at once.
 *
 * @throws AppError CONFIG_INVALID for a bad URL; AppError `unreachableCode` (default ENGINE_UNAVAILABLE)
 *   when the connection is refused, the host does not resolve, or `connectTimeoutMs` passes;
 *   the abort reason when `signal` aborts first.
 */
export async function connectWyoming(
  url: string,
  opts: WyomingConnectOptions = {},
): Promise<WyomingConnection> {
  const { host, port } = parseWyomingUrl(url);
  const { signal } = opts;
  signal?.throwIfAborted();
  const socket = createConnection({ host, port });
  // A permanent listener: errors surface through receive/send; without one an 'error' would crash the process.
  socket.on('error', () => {});
  await waitForConnect(socket, url, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, opts);
  socket.setNoDelay(true);
  const connection = new WyomingConnection(socket, url, opts);
  if (signal !== undefined) {
    const onAbort = (): void => connection.close(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return connection;
}
