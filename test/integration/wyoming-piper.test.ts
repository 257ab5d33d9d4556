/**
 * The Wyoming client and engine against the REAL wyoming-piper (venv, bundled voice en_US-joe-medium).
 */
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AudioChunk, pcmDurationMs } from '../../src/audio/format.js';
import { silentLog } from '../../src/shared/log.js';
import { createWyomingEngine } from '../../src/tts/engines/wyoming.js';
import { describeTts, synthesizeTts, synthesizeTtsStreaming } from '../../src/wyoming/tts.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';
import { freePort } from '../helpers/ports.js';

const SENTENCE = 'The washing machine has finished.';
const LONG_TEXT = Array.from(
  { length: 8 },
  (_, i) => `This is sentence number ${i + 1} of a long announcement.`,
).join(' ');

let piper: RunningPiper;
beforeAll(async () => {
  piper = await startWyomingPiper();
});
afterAll(async () => {
  await piper?.stop();
});

async function collect(chunks: AsyncIterable<AudioChunk>): Promise<AudioChunk[]> {
  const out: AudioChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

function totalMs(chunks: AudioChunk[]): number {
  return chunks.reduce((ms, c) => ms + pcmDurationMs(c.pcm.length, c.format), 0);
}

/** Root mean square of s16le samples, 0..32768: speech is far above digital silence. */
function rms(chunks: AudioChunk[]): number {
  let sum = 0;
  let n = 0;
  for (const { pcm } of chunks) {
    for (let i = 0; i + 1 < pcm.length; i += 2) {
      sum += pcm.readInt16LE(i) ** 2;
      n++;
    }
  }
  return Math.sqrt(sum / n);
}

/** A TCP server for the duration of `fn` whose connections `onConnection` handles. */
async function withServer(
  onConnection: (s: Socket) => void,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const server: Server = createServer(onConnection);
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    await fn(`tcp://127.0.0.1:${port}`);
  } finally {
    server.close();
  }
}

describe('describe', () => {
  it('lists the bundled voice with its language and says piper streams', async () => {
    const info = await describeTts(piper.url);
    const program = info.tts.find((p) => p.name === 'piper');
    expect(program?.supportsSynthesizeStreaming).toBe(true);
    const joe = program?.voices.find((v) => v.name === PIPER_VOICE);
    expect(joe).toMatchObject({ name: PIPER_VOICE, languages: ['en_US'], speakers: [] });
  });
});

describe('Wyoming engine against wyoming-piper', () => {
  const engine = () =>
    createWyomingEngine({ name: 'piper', type: 'piper', url: piper.url, log: silentLog() });

  it('synthesizes 22050 Hz s16 mono speech of plausible length, in several chunks', async () => {
    const chunks = await collect(engine().synthesize({ text: SENTENCE }, new AbortController().signal));
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.format).toEqual({ rateHz: 22050, widthBytes: 2, channels: 1 });
    const ms = totalMs(chunks);
    expect(ms).toBeGreaterThan(1200);
    expect(ms).toBeLessThan(5000);
    expect(rms(chunks)).toBeGreaterThan(300);
  });

  it('speaks a longer text for longer, with the configured voice by name', async () => {
    const e = createWyomingEngine({
      name: 'p',
      type: 'piper',
      url: piper.url,
      voice: PIPER_VOICE,
      log: silentLog(),
    });
    const short = totalMs(await collect(e.synthesize({ text: SENTENCE }, new AbortController().signal)));
    const long = totalMs(await collect(e.synthesize({ text: LONG_TEXT }, new AbortController().signal)));
    expect(long).toBeGreaterThan(4 * short);
  });

  it('lists voices and probes healthy', async () => {
    const e = engine();
    expect((await e.voices()).map((v) => v.name)).toContain(PIPER_VOICE);
    expect(await e.probe()).toMatchObject({ healthy: true });
  });

  it('reports an unknown voice as ENGINE_FAILED with the engine text', async () => {
    const run = collect(
      engine().synthesize({ text: SENTENCE, voice: 'xx_XX-nobody-low' }, AbortSignal.timeout(20_000)),
    );
    await expect(run).rejects.toMatchObject({ code: 'ENGINE_FAILED', message: /reported an error/ });
  });

  it('closes the socket when aborted mid-stream and throws the abort reason', async () => {
    // A pass-through TCP proxy lets the test see the engine's side of the connection close.
    let clientClosed!: () => void;
    const closed = new Promise<void>((r) => {
      clientClosed = r;
    });
    let forwardedBytes = 0;
    await withServer(
      (client) => {
        const upstream = connect(piper.port, '127.0.0.1');
        client.on('data', (b) => upstream.write(b));
        upstream.on('data', (b) => {
          forwardedBytes += b.length;
          client.write(b);
        });
        client.on('close', () => {
          upstream.destroy();
          clientClosed();
        });
        client.on('error', () => {});
        upstream.on('error', () => client.destroy());
      },
      async (url) => {
        const e = createWyomingEngine({ name: 'p', type: 'piper', url, log: silentLog() });
        const ac = new AbortController();
        const reason = new Error('user cancelled');
        let received = 0;
        const run = (async () => {
          for await (const _ of e.synthesize({ text: LONG_TEXT }, ac.signal)) {
            received++;
            if (received === 1) ac.abort(reason);
          }
        })();
        await expect(run).rejects.toBe(reason);
        await closed;
        expect(received).toBe(1);
      },
    );
    // The proxy stopped forwarding long before the eight sentences (~20 s of audio, ~900 kB) were sent.
    expect(forwardedBytes).toBeLessThan(400_000);
  });

  it('streams text in pieces: audio per sentence, then synthesize-stopped', async () => {
    async function* pieces(): AsyncGenerator<string> {
      yield 'The washing machine ';
      yield 'has finished. The dryer ';
      yield 'is still running.';
    }
    const chunks = await collect(
      synthesizeTtsStreaming(piper.url, pieces(), undefined, AbortSignal.timeout(20_000)),
    );
    for (const c of chunks) expect(c.format).toEqual({ rateHz: 22050, widthBytes: 2, channels: 1 });
    const whole = await collect(
      synthesizeTts(
        piper.url,
        'The washing machine has finished. The dryer is still running.',
        { name: PIPER_VOICE },
        AbortSignal.timeout(20_000),
      ),
    );
    expect(totalMs(chunks)).toBeGreaterThan(0.7 * totalMs(whole));
    expect(totalMs(chunks)).toBeLessThan(1.3 * totalMs(whole));
  });
});

describe('Wyoming engine failures', () => {
  it('rethrows a failure of the text source in streaming synthesis', async () => {
    const broken = new Error('text source broke');
    async function* pieces(): AsyncGenerator<string> {
      yield 'The washing machine ';
      throw broken;
    }
    const run = collect(synthesizeTtsStreaming(piper.url, pieces(), undefined, AbortSignal.timeout(20_000)));
    await expect(run).rejects.toBe(broken);
  });

  it('gives ENGINE_UNAVAILABLE on a refused port, and probe says unhealthy without throwing', async () => {
    const url = `tcp://127.0.0.1:${await freePort()}`;
    const e = createWyomingEngine({ name: 'piper', type: 'piper', url, log: silentLog() });
    await expect(
      collect(e.synthesize({ text: SENTENCE }, new AbortController().signal)),
    ).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: new RegExp(`cannot connect to Wyoming service at ${url}: ECONNREFUSED`),
    });
    const health = await e.probe();
    expect(health.healthy).toBe(false);
    expect(health.error).toMatch(/ECONNREFUSED/);
  });

  it('gives ENGINE_BAD_RESPONSE when the URL points at an HTTP server', async () => {
    const http = createHttpServer((_req, res) => res.end('hello'));
    const port = await freePort();
    await new Promise<void>((r) => http.listen(port, '127.0.0.1', r));
    try {
      const e = createWyomingEngine({
        name: 'x',
        type: 'wyoming',
        url: `tcp://127.0.0.1:${port}`,
        log: silentLog(),
      });
      await expect(
        collect(e.synthesize({ text: SENTENCE }, AbortSignal.timeout(10_000))),
      ).rejects.toMatchObject({
        code: 'ENGINE_BAD_RESPONSE',
        message: /not JSON.*HTTP\/1\.1 400/,
      });
    } finally {
      http.close();
    }
  });

  it('probes unhealthy when a service accepts but never answers describe', async () => {
    await withServer(
      () => {},
      async (url) => {
        const e = createWyomingEngine({
          name: 'x',
          type: 'wyoming',
          url,
          probeTimeoutMs: 300,
          log: silentLog(),
        });
        expect(await e.probe()).toMatchObject({
          healthy: false,
          error: expect.stringMatching(/did not answer describe/),
        });
        await expect(e.voices(AbortSignal.timeout(300))).rejects.toMatchObject({ name: 'TimeoutError' });
      },
    );
  });

  it('gives ENGINE_FAILED when the service closes before audio-stop', async () => {
    await withServer(
      (s) => s.once('data', () => s.end()),
      async (url) => {
        const e = createWyomingEngine({ name: 'x', type: 'wyoming', url, log: silentLog() });
        await expect(
          collect(e.synthesize({ text: SENTENCE }, AbortSignal.timeout(10_000))),
        ).rejects.toMatchObject({
          code: 'ENGINE_FAILED',
          message: /closed before audio-stop/,
        });
      },
    );
  });
});
