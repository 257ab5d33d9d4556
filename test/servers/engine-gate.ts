/**
 * A gate in front of a stand-in engine server, for dispatcher tests: it forwards HTTP requests unchanged
 * to the stand-in (so the hub still talks the stand-in's upstream API, see the stand-in's header), and
 * - counts the TCP connections and requests that reach it (did the hub call the engine at all?);
 * - records each request's method, path with query, and body (what reached the engine);
 * - `mode = "reset"` makes the engine fail like a crashed server: every connection is reset at once;
 * - `delayMs` makes the engine slow: each request waits that long before it is forwarded;
 * - `cutAfterBytes` makes it die mid-stream: after that many answer body bytes, 0.5 s later, the socket is
 *   destroyed;
 * - `hold()` makes the engine silent until released: requests are recorded, then wait before being forwarded
 *   (so a test knows for sure that the engine has produced nothing yet).
 * Test code only; the hub never imports this.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { readBody } from './speech.js';

/** One request seen by the gate. */
export interface GateRequest {
  method: string;
  /** Path and query, e.g. `/tts_stream?text=Hi&speaker_wav=female_calm&language=de`. */
  url: string;
  /** The body as text ('' for none). */
  body: string;
}

/** A running gate. Change `mode` and `delayMs` at any time. */
export interface EngineGate {
  url: string;
  mode: 'pass' | 'reset';
  delayMs: number;
  /** Destroy the connection after this many answer body bytes; 0: never. */
  cutAfterBytes: number;
  /** TCP connections accepted so far (reset ones included). */
  readonly connections: number;
  /** Requests forwarded so far, in arrival order (reset ones are not recorded). */
  readonly requests: GateRequest[];
  /** Holds every request from now on (after recording it) until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

async function forward(
  upstream: string,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  cutAfterBytes: number,
) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) {
      headers.set(name, value);
    }
  }
  const answer = await fetch(`${upstream}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    body: body.length ? new Uint8Array(body) : undefined,
    redirect: 'manual',
  });
  const out: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name))
      out[name] = value;
  });
  res.writeHead(answer.status, out);
  if (!answer.body) return void res.end();
  let sent = 0;
  const cut = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      if (cutAfterBytes && sent > cutAfterBytes) {
        // Like a server that dies while speaking: what it sent is out, then half a second later it is gone.
        this.push(chunk);
        setTimeout(() => {
          res.socket?.destroy();
          done(new Error('cut by the gate'));
        }, 500);
        return;
      }
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(answer.body as WebReadableStream<Uint8Array>), cut, res);
}

/** Starts a gate on a free port in front of the stand-in at `upstream` (its base URL). */
export async function startEngineGate(upstream: string): Promise<EngineGate> {
  const requests: GateRequest[] = [];
  let connections = 0;
  let held: Promise<void> | undefined;
  const server: Server = createServer((req, res) => {
    if (gate.mode === 'reset') return void req.socket.resetAndDestroy();
    handle(req, res).catch(() => res.destroy());
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', body: body.toString('utf8') });
    await held;
    if (gate.delayMs) await new Promise((r) => setTimeout(r, gate.delayMs));
    await forward(upstream, req, res, body, gate.cutAfterBytes);
  };
  server.on('connection', (socket) => {
    connections++;
    if (gate.mode === 'reset') socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const gate: EngineGate = {
    url: `http://127.0.0.1:${port}`,
    mode: 'pass',
    delayMs: 0,
    cutAfterBytes: 0,
    get connections() {
      return connections;
    },
    requests,
    hold() {
      let release: () => void = () => {};
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        held = undefined;
        release();
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return gate;
}
