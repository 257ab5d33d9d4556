/**
 * Hostile Wyoming clients against the real hub process (real sockets, mosquitto, espeak-ng, ffmpeg). Before
 * issue 10: one synthesize-chunk of 60,000 "!" froze the process 15 s; 100 chunks of 1 MB without a sentence
 * end took RSS to 1.5 GB; a 64 MiB payload frame took 36 s to read; 200 idle connections were held forever.
 * Each test asserts the outcome: refused with its code, /api/health answering within a bound, bounded memory,
 * connections closed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peakRssBytes, probeHealth, rawWyoming, rssBytes } from '../helpers/attack.js';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

const MB = 1024 * 1024;

describe('Wyoming server under attack', () => {
  let broker: RunningMosquitto;
  let hub: HubProcess;
  let port: number;
  const pid = (): number => hub.child.pid as number;

  beforeAll(async () => {
    broker = await startMosquitto();
    port = await freePort();
    hub = await startHub({
      mqtt: { url: broker.url },
      // The schema's largest text, so the splitter (not the length check) meets the long chunks.
      max_text_chars: 100_000,
      wyoming_server: { enabled: true, port, max_connections: 16, idle_timeout_s: 2 },
    });
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    hub?.cleanup();
    await broker?.stop();
  });

  it('a synthesize-chunk of 60,000 "!" keeps /api/health answering and is spoken sentence by sentence', async () => {
    const probe = probeHealth(hub.baseUrl);
    const client = await rawWyoming(port);
    client.send({ type: 'synthesize-start', data: {} });
    client.send({ type: 'synthesize-chunk', data: { text: '!'.repeat(60_000) } });
    // Split at once into pieces of at most 400 characters; the first is spoken while the rest wait.
    const start = await client.next('audio-start', 20_000);
    expect(start.data).toMatchObject({ rate: 22050, width: 2, channels: 1 });
    await new Promise((r) => setTimeout(r, 1000));
    client.close();
    const health = await probe.stop();
    expect(health.failures).toBe(0);
    expect(health.maxMs).toBeLessThan(1000);
  });

  it('100 synthesize-chunks of 1 MB without a sentence end: refused at the first, memory bounded', async () => {
    const before = await rssBytes(pid());
    const probe = probeHealth(hub.baseUrl);
    // Within the event limit (6 bytes a character of max_text_chars): the stream's text bound refuses it.
    const stream = await rawWyoming(port);
    stream.send({ type: 'synthesize-start', data: {} });
    const half = 'x'.repeat(MB / 2);
    for (let i = 0; i < 100; i++) stream.send({ type: 'synthesize-chunk', data: { text: half } });
    stream.send({ type: 'synthesize-stop' });
    const error = await stream.next('error', 20_000);
    expect(error.data).toMatchObject({ code: 'TEXT_TOO_LONG' });
    expect(error.data?.text).toMatch(/max_text_chars/);
    await stream.next('synthesize-stopped', 20_000);
    expect(stream.events.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(stream.events.some((e) => e.type === 'audio-start')).toBe(false);
    stream.close();
    // Over the event limit: refused from its header, before the megabyte is read, and the connection closed.
    const big = await rawWyoming(port);
    big.send({ type: 'synthesize-start', data: {} });
    const mb = 'y'.repeat(MB);
    for (let i = 0; i < 100 && !big.socket.destroyed; i++) {
      if (!big.send({ type: 'synthesize-chunk', data: { text: mb } })) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const refused = await big.next('error', 20_000);
    expect(refused.data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(refused.data?.text).toMatch(/data_length/);
    await big.closed;
    const health = await probe.stop();
    expect(health.maxMs).toBeLessThan(1000);
    // The old server buffered every chunk: 1.5 GB.
    expect((await peakRssBytes(pid())) - before).toBeLessThan(150 * MB);
  });

  it('a 64 MiB payload frame is refused from its header at once, without reading it', async () => {
    const before = await rssBytes(pid());
    const client = await rawWyoming(port);
    const t0 = performance.now();
    const header = Buffer.from(
      `${JSON.stringify({ type: 'audio-chunk', version: '1.10.2', payload_length: 64 * MB })}\n`,
    );
    client.socket.write(header);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    while (sent < 64 * MB && !client.socket.destroyed && client.events.length === 0) {
      if (!client.socket.write(chunk)) await new Promise((r) => setTimeout(r, 2));
      sent += chunk.length;
    }
    const error = await client.next('error', 5000);
    expect(error.data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(error.data?.text).toMatch(/payload_length/);
    await client.closed;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect((await peakRssBytes(pid())) - before).toBeLessThan(48 * MB);
  });

  it('200 idle connections: 16 are taken, the others refused with LIMIT_REACHED, the idle ones closed', async () => {
    const clients = await Promise.all(Array.from({ length: 200 }, () => rawWyoming(port)));
    const refused = await Promise.all(
      clients.map((c) =>
        c
          .next('error', 5000)
          .then((e) => e.data?.code)
          .catch(() => undefined),
      ),
    );
    expect(refused.filter((code) => code === 'LIMIT_REACHED')).toHaveLength(184);
    // The taken ones send nothing: closed after wyoming_server.idle_timeout_s (2 s).
    const t0 = performance.now();
    await Promise.all(clients.map((c) => c.closed));
    expect(performance.now() - t0).toBeLessThan(6000);
    // Room again: a new client is served.
    const again = await rawWyoming(port);
    again.send({ type: 'describe' });
    const info = await again.next('info');
    expect(Array.isArray(info.data?.tts)).toBe(true);
    again.close();
  });
});
