/**
 * Broken engines for fault tests, each a real socket: one that refuses connections, one that accepts and
 * never answers, one that starts a valid streamed WAV and then drops the connection, and one that answers
 * garbage. `json` gives fixed JSON answers for listing paths (e.g. `/speakers_list`) so an engine gets as
 * far as its synthesis request before the fault.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../helpers/ports.js';
import {
  RATE_24K,
  readBody,
  type StandIn,
  s16MonoWavHeader,
  sendJson,
  startStandIn,
  WAV_SIZE_UNKNOWN,
} from './speech.js';

/** What the fault server does on every request that `json` does not answer. */
export type FaultMode = 'refuse' | 'hang' | 'die_mid_stream' | 'garbage';

/** A fault server: its base URL and `close()`. */
export interface FaultServer {
  url: string;
  close(): Promise<void>;
}

/** A port on which nothing listens: connecting is refused. */
async function refusing(): Promise<FaultServer> {
  const port = await freePort();
  return { url: `http://127.0.0.1:${port}`, close: async () => {} };
}

/** A raw TCP server that reads requests and never writes a byte. */
async function hanging(): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts a fault server. `die_mid_stream` sends 200, a streamed 24 kHz WAV header and 0.5 s of a tone, then
 * destroys the socket without ending the chunked body. `garbage` sends 200 with an HTML page.
 */
export async function startFaultServer(
  mode: FaultMode,
  json: Record<string, unknown> = {},
): Promise<FaultServer> {
  if (mode === 'refuse') return refusing();
  if (mode === 'hang') return hanging();
  const standIn: StandIn = await startStandIn(async (req, res, { pathname: path }) => {
    await readBody(req);
    if (req.method === 'GET' && path in json) return sendJson(res, 200, json[path]);
    if (mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>Welcome to nginx!</body></html>');
    }
    res.writeHead(200, { 'content-type': 'audio/wav', 'transfer-encoding': 'chunked' });
    const tone = Buffer.alloc(RATE_24K);
    for (let i = 0; i < tone.length / 2; i++) tone.writeInt16LE(Math.round(8000 * Math.sin(i / 10)), i * 2);
    res.write(Buffer.concat([s16MonoWavHeader(RATE_24K, WAV_SIZE_UNKNOWN, WAV_SIZE_UNKNOWN), tone]));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  return { url: standIn.url, close: standIn.close };
}
