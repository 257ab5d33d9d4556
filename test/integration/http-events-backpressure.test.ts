/**
 * GET /api/events under back-pressure, over real sockets: a client that connects and never reads is dropped
 * once its unsent events pass the bound (its stream is closed, having taken far less than was sent), while a
 * client that reads gets every event. Before issue 14 the route wrote to every client without looking, so a
 * stalled client's events piled up in the hub's memory without limit.
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsRoutes } from '../../src/http/routes/events.js';
import type { HubEvents } from '../../src/hub-events.js';
import type { DeviceStatus } from '../../src/recorder/status.js';
import { createEventHub, type EventHub } from '../../src/shared/events.js';
import { silentLog } from '../../src/shared/log.js';

/** A recorder status with `padBytes` of padding, so a few events fill socket buffers. */
function bigStatus(n: number, padBytes: number): DeviceStatus {
  return {
    device: `pad-${n}-${'x'.repeat(padBytes)}`,
    state: 'recording',
    in_progress: true,
    id: null,
    file: null,
    url: null,
    bytes: n,
    duration_ms: 0,
    started_at: null,
  };
}

/** Connects and sends the request, then never reads: the socket stays paused. */
function stalledClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause();
      socket.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', () => resolve(socket));
    });
    socket.once('error', reject);
  });
}

describe('GET /api/events back-pressure', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('drops a client that does not read, bounded, while a reading client gets every event', async () => {
    const events: EventHub<HubEvents> = createEventHub<HubEvents>(silentLog());
    app = Fastify();
    const maxBacklogBytes = 256 * 1024;
    await app.register(eventsRoutes, {
      events,
      status: async () => ({ status: 'ok' }),
      statusIntervalMs: 60_000,
      maxBacklogBytes,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;

    const stalled = await stalledClient(port);
    let stalledClosed = false;
    stalled.once('close', () => {
      stalledClosed = true;
    });
    const reader = await fetch(`http://127.0.0.1:${port}/api/events`);
    const body = (reader.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = '';
    const countRecorder = (): number => seen.split('event: recorder\n').length - 1;
    const readUntil = async (count: number): Promise<void> => {
      while (countRecorder() < count) {
        const { value, done } = await body.read();
        if (done) throw new Error('the reading client was dropped');
        seen += decoder.decode(value, { stream: true });
      }
    };
    await readUntil(0);

    // 200 events of 64 KiB: 12.8 MB, far more than loopback socket buffers and the bound together.
    const total = 200;
    for (let n = 1; n <= total; n += 1) {
      events.emit('recorder', bigStatus(n, 64 * 1024));
      await readUntil(n);
    }
    expect(countRecorder()).toBe(total);

    // The stalled client was cut off: reading now yields what the buffers held, then the end.
    let stalledBytes = 0;
    stalled.on('data', (b: Buffer) => {
      stalledBytes += b.length;
    });
    stalled.resume();
    await expect.poll(() => stalledClosed, { timeout: 10_000 }).toBe(true);
    expect(stalledBytes).toBeGreaterThan(0);
    expect(stalledBytes).toBeLessThan((total * 64 * 1024) / 2);
    await body.cancel();
  });
});
