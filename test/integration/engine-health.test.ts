/**
 * Engine health seen from outside: every engine is probed when the hub starts, before any request, and the
 * answers show on GET /api/engines and the retained `tts/status`; the monitor probes again periodically, so
 * health follows an engine that goes down and comes back with no traffic at all. Real espeak-ng and mosquitto;
 * the OpenAI-style stand-in of test/servers/ behind its gate (which can reset every connection).
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import { createDispatcher, type EngineEntry } from '../../src/tts/dispatcher.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { createHealthMonitor } from '../../src/tts/health-monitor.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

type Json = Record<string, unknown>;

describe('health probes at start', () => {
  let broker: RunningMosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(() => broker?.stop());

  it('shows an unreachable engine unhealthy and espeak-ng healthy before any request, on /api/engines and tts/status', async () => {
    const deadPort = await freePort();
    const hub = await startInProcessHub(
      {
        engines: [
          { name: 'kokoro', type: 'openai', url: `http://127.0.0.1:${deadPort}` },
          { name: 'espeak', type: 'espeak' },
        ],
      },
      broker.url,
    );
    const watcher = await mqtt.connectAsync(broker.url);
    try {
      const expected = [
        expect.objectContaining({
          name: 'kokoro',
          healthy: false,
          error: expect.any(String),
          checked_at: expect.any(String),
        }),
        expect.objectContaining({ name: 'espeak', healthy: true, checked_at: expect.any(String) }),
      ];
      const { engines } = (await (await fetch(`${hub.baseUrl}/api/engines`)).json()) as { engines: Json[] };
      expect(engines).toEqual(expected);

      const status = new Promise<Json>((resolve) =>
        watcher.on('message', (_t, p, packet) => {
          if (packet.retain) resolve(JSON.parse(p.toString()) as Json);
        }),
      );
      await watcher.subscribeAsync('tts/status', { qos: 1 });
      expect((await status).engines).toEqual(expected);
      expect(hub.hub.sayService.stats().engineRuns).toEqual({}); // probes only, no synthesis
    } finally {
      await watcher.endAsync();
      await hub.close();
    }
  });
});

describe('periodic health probes', () => {
  const gated = useGatedOpenAiServer();

  it('marks an engine unhealthy when it stops answering and healthy when it answers again, without traffic', async () => {
    const gate = gated();
    const log = silentLog();
    const options = EngineOptionsSchema.parse({ name: 'kokoro', type: 'openai', url: gate.url });
    const entries: EngineEntry[] = [
      {
        engine: createEngine(options, { log }),
        transport: 'openai',
        maxParallel: 1,
        timeoutMs: 5000,
        gainDb: 0,
      },
    ];
    const dispatcher = createDispatcher({ entries, log });
    const monitor = createHealthMonitor({ entries, dispatcher, intervalMs: 200, log });
    const healthy = () => monitor.snapshot()[0]?.healthy;
    const until = (want: boolean) => expect.poll(healthy, { timeout: 15_000 }).toBe(want);
    gate.mode = 'pass';
    await monitor.start();
    try {
      expect(healthy()).toBe(true);
      gate.mode = 'reset';
      await until(false); // a periodic probe, not a request, found it down
      expect(monitor.snapshot()[0]?.error).toEqual(expect.any(String));
      gate.mode = 'pass';
      await until(true);
      expect(gate.requests.some((r) => r.url.includes('/audio/speech'))).toBe(false); // no synthesis ran
    } finally {
      monitor.stop();
    }
  });
});
