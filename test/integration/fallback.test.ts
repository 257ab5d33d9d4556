/**
 * The fallback chain with the real Piper over Wyoming: Piper first speaks; Piper unreachable falls back to
 * espeak-ng within the timeout and the result says `fallback_from: ["piper"]`.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { type InProcessHub, startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';
import { freePort } from '../helpers/ports.js';

describe('engine fallback chain', () => {
  let broker: RunningMosquitto;
  let piper: RunningPiper;
  let client: SayClient;

  beforeAll(async () => {
    [broker, piper] = await Promise.all([startMosquitto(), startWyomingPiper()]);
    client = await connectSayClient(broker.url);
  });
  afterAll(async () => {
    await client?.close();
    await piper?.stop();
    await broker?.stop();
  });

  const withHub = async (piperUrl: string, timeoutS: number, run: (hub: InProcessHub) => Promise<void>) => {
    const hub = await startInProcessHub(
      {
        engines: [
          {
            name: 'piper',
            type: 'piper',
            transport: 'wyoming',
            url: piperUrl,
            voice: PIPER_VOICE,
            timeout_s: timeoutS,
          },
          { name: 'espeak', type: 'espeak' },
        ],
      },
      broker.url,
    );
    try {
      await run(hub);
    } finally {
      await hub.close();
    }
  };

  it('speaks with the real Piper when it is first and answers', async () => {
    await withHub(piper.url, 30, async () => {
      const result = await client.say(
        '{"text": "The front door has been open for ten minutes.", "id": "p1"}',
        'p1',
      );
      expect(result).toMatchObject({ ok: true, engine: 'piper', voice: PIPER_VOICE, cached: false });
      expect(result.fallback_from).toBeUndefined();
      const probe = await ffprobe(Buffer.from(await (await fetch(result.url as string)).arrayBuffer()));
      expect(probe.codec).toBe('opus');
      expect(probe.durationMs).toBeGreaterThan(1500);
    });
  });

  it('falls back to espeak-ng when Piper refuses connections', async () => {
    const deadPort = await freePort();
    await withHub(`tcp://127.0.0.1:${deadPort}`, 5, async () => {
      const result = await client.say('{"text": "The dishwasher is done.", "id": "f1"}', 'f1');
      expect(result).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['piper'] });
    });
  });

  it('falls back to espeak-ng within the timeout when Piper hangs', async () => {
    const port = await freePort();
    const hanging: Server = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => hanging.listen(port, '127.0.0.1', r));
    try {
      await withHub(`tcp://127.0.0.1:${port}`, 1, async () => {
        const started = Date.now();
        const result = await client.say('{"text": "Dinner is ready!", "id": "h1"}', 'h1');
        expect(result).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['piper'] });
        // The hang costs one timeout (1 s) plus espeak; far below a second timeout.
        expect(Date.now() - started).toBeLessThan(1000 + 5000);
      });
    } finally {
      hanging.close();
    }
  });
});
