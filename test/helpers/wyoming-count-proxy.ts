/**
 * A TCP proxy in front of a real Wyoming service (wyoming-piper) that counts the `synthesize` requests passing
 * through it, so a test sees which instance of a pool really spoke, independently of what the hub reports.
 * Everything is forwarded unchanged; when the service behind it is gone, new connections are reset.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/** A running proxy: `url` to give the hub, `synthesizes` so far, `stop()` closes everything. */
export interface CountProxy {
  url: string;
  readonly synthesizes: number;
  stop(): Promise<void>;
}

/** Occurrences of `needle` in `chunk`. */
function countEvents(chunk: Buffer, needle: string): number {
  let n = 0;
  for (let at = chunk.indexOf(needle); at >= 0; at = chunk.indexOf(needle, at + needle.length)) n++;
  return n;
}

/** Starts the proxy towards `target` (`tcp://host:port`). */
export async function startCountProxy(target: string): Promise<CountProxy> {
  const { hostname, port } = new URL(target.replace(/^tcp:/, 'http:'));
  const sockets = new Set<Socket>();
  let synthesizes = 0;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    // Every synthesize event on the connection counts: the hub may reuse a connection for several (warm
    // connections), each event's header line arriving at the start of one write.
    client.on('data', (chunk: Buffer) => {
      synthesizes += countEvents(chunk, '"type":"synthesize"');
    });
    client.once('data', (first) => {
      client.pause();
      const upstream = createConnection({ host: hostname, port: Number(port) }, () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.resetAndDestroy());
      client.on('close', () => upstream.destroy());
    });
  });
  const listenPort = await freePort();
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    url: `tcp://127.0.0.1:${listenPort}`,
    get synthesizes() {
      return synthesizes;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
