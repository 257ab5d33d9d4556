/**
 * A TCP proxy in front of a real Wyoming service (wyoming-piper) that breaks one synthesis on demand, to test
 * an engine that fails halfway through a text: the first `passSynthesize` connections that send a
 * `synthesize` event pass through; the next one is held open until `cut()` and then reset, as if the engine
 * crashed mid-stream. Other connections (describe probes) always pass.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/** A running proxy: `url` to give the hub, `cut()` resets the held connection, `stop()` closes everything. */
export interface CutProxy {
  url: string;
  /** Resolves once a synthesize connection is being held (the text is past the passing sentences). */
  holding: Promise<void>;
  cut(): void;
  stop(): Promise<void>;
}

/** Starts the proxy towards `target` (`tcp://host:port`). */
export async function startCutProxy(target: string, passSynthesize: number): Promise<CutProxy> {
  const { hostname, port } = new URL(target.replace(/^tcp:/, 'http:'));
  const sockets = new Set<Socket>();
  const held: Socket[] = [];
  let synthesizes = 0;
  let cutNow = false;
  let onHold: () => void = () => {};
  const holding = new Promise<void>((r) => {
    onHold = r;
  });
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.once('data', (first) => {
      client.pause();
      if (first.includes('"synthesize"') && ++synthesizes > passSynthesize) {
        held.push(client);
        onHold();
        if (cutNow) client.resetAndDestroy();
        return;
      }
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
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  });
  const listenPort = await freePort();
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    url: `tcp://127.0.0.1:${listenPort}`,
    holding,
    cut() {
      cutNow = true;
      for (const s of held.splice(0)) s.resetAndDestroy();
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
