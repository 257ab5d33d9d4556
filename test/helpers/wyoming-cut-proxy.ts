/**
 * A TCP proxy in front of a real Wyoming service (wyoming-piper) that breaks one synthesis on demand, to test
 * an engine that fails halfway through a text: the first `passSynthesize` `synthesize` events pass through
 * (on new connections or on a reused one: the hub keeps Wyoming connections warm); the connection carrying the
 * next one is held open until `cut()` and then reset, as if the engine crashed mid-stream. Other events
 * (describe probes) always pass.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/** A running proxy: `url` to give the hub, `cut()` resets the held connection, `stop()` closes everything. */
export interface CutProxy {
  url: string;
  /** Resolves once a synthesize connection is being held (the text is past the passing sentences). */
  holding: Promise<void>;
  cut(): void;
  /** Connections accepted so far (describe probes included). */
  readonly connections: number;
  /** Closes every open connection (as a restarted service would), keeping the proxy listening. */
  dropAll(): void;
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
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let upstream: Socket | undefined;
    const pending: Buffer[] = [];
    let isHeld = false;
    client.on('data', (chunk: Buffer) => {
      if (isHeld) return;
      if (chunk.includes('"synthesize"') && ++synthesizes > passSynthesize) {
        isHeld = true;
        held.push(client);
        onHold();
        if (cutNow) client.resetAndDestroy();
        return;
      }
      if (upstream) {
        if (upstream.connecting) pending.push(chunk);
        else upstream.write(chunk);
        return;
      }
      pending.push(chunk);
      const up = createConnection({ host: hostname, port: Number(port) }, () => {
        for (const b of pending.splice(0)) up.write(b);
        up.pipe(client);
      });
      upstream = up;
      sockets.add(up);
      up.on('close', () => {
        sockets.delete(up);
        client.destroy();
      });
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
    });
  });
  const listenPort = await freePort();
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', r));
  return {
    url: `tcp://127.0.0.1:${listenPort}`,
    holding,
    get connections() {
      return connections;
    },
    dropAll() {
      for (const s of sockets) s.destroy();
    },
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
