/**
 * Idle Wyoming connections kept open for reuse, one pool per service URL (a TTS engine owns one).
 *
 * Why reuse is allowed: OHF-Voice/wyoming `wyoming/server.py` (`AsyncEventHandler.run`) reads events on a
 * connection in a loop until `handle_event` returns False, and wyoming-piper `handler.py` returns True after
 * answering a plain `synthesize` (audio-start … audio-stop), so one connection serves any number of plain
 * `synthesize` requests, one after another. Not after streaming: once a connection has seen `synthesize-start`,
 * wyoming-piper ignores plain `synthesize` on it (`is_streaming` stays set), so streaming connections are never
 * pooled. A connection is given back only after its answer was read to the end; anything else closes it.
 */
import { connectWyoming, type WyomingConnection, type WyomingConnectOptions } from './client.js';

/** How long an idle connection is kept, in ms. */
export const WYOMING_IDLE_MS = 30_000;
/** Idle connections kept per pool at most. */
const MAX_IDLE = 4;

/** A connection taken from a pool for one request. */
export interface PooledConnection {
  conn: WyomingConnection;
  /** True when it served an earlier request (it may have been closed by the peer meanwhile). */
  reused: boolean;
  /** Gives it back for reuse: call only after the answer was read completely. */
  release(): void;
  /** Closes it (after an error, an abort or an unfinished answer). */
  discard(): void;
}

/** The idle connections to one Wyoming service. */
export interface WyomingPool {
  /**
   * An idle connection that is still open (bound to `signal` for this use), else a new one.
   * @throws as `connectWyoming`.
   */
  acquire(signal: AbortSignal, opts?: Omit<WyomingConnectOptions, 'signal'>): Promise<PooledConnection>;
  /** Connections idle now. */
  readonly idle: number;
  /** Closes every idle connection; later releases close theirs. */
  close(): void;
}

interface Idle {
  conn: WyomingConnection;
  timer: NodeJS.Timeout;
}

/** Creates an empty pool for the service at `url` (`tcp://host:port`). */
export function createWyomingPool(url: string): WyomingPool {
  const idle: Idle[] = [];
  let closed = false;

  const take = (): WyomingConnection | undefined => {
    for (let item = idle.pop(); item; item = idle.pop()) {
      clearTimeout(item.timer);
      if (item.conn.usable) return item.conn;
      item.conn.close();
    }
    return undefined;
  };

  const wrap = (conn: WyomingConnection, reused: boolean, signal: AbortSignal): PooledConnection => {
    const detach = conn.attach(signal);
    let done = false;
    return {
      conn,
      reused,
      release() {
        if (done) return;
        done = true;
        detach();
        if (closed || !conn.usable || idle.length >= MAX_IDLE) {
          conn.close();
          return;
        }
        const item: Idle = {
          conn,
          timer: setTimeout(() => {
            const at = idle.indexOf(item);
            if (at >= 0) idle.splice(at, 1);
            conn.close();
          }, WYOMING_IDLE_MS),
        };
        item.timer.unref();
        idle.push(item);
      },
      discard() {
        if (done) return;
        done = true;
        detach();
        conn.close();
      },
    };
  };

  return {
    async acquire(signal, opts = {}) {
      signal.throwIfAborted();
      const reusable = take();
      if (reusable) return wrap(reusable, true, signal);
      // The request's signal may abort the connect, but must not stay bound to a connection that outlives the
      // request: connect with a signal of our own, linked to the request's only while connecting.
      const connecting = new AbortController();
      const onAbort = (): void => connecting.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const conn = await connectWyoming(url, { ...opts, signal: connecting.signal });
        return wrap(conn, false, signal);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
    get idle() {
      return idle.length;
    },
    close() {
      closed = true;
      for (const item of idle.splice(0)) {
        clearTimeout(item.timer);
        item.conn.close();
      }
    },
  };
}
