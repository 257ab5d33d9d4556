import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { buildDevicePayload, type DiscoveryContext } from '../../src/mqtt/discovery.js';
import { createRequestJournal, deliveryKey } from '../../src/mqtt/request-journal.js';
import { silentLog } from '../../src/shared/log.js';
import { budgetMs } from '../../src/tts/deadline.js';
import { createEngineSpeed } from '../../src/tts/engine-speed.js';
import { engineUrls } from '../../src/tts/engines/index.js';

const engine = (raw: Record<string, unknown>) => EngineOptionsSchema.parse({ name: 'piper', ...raw });

describe('engine instances from the options', () => {
  it('lists url first, then urls, without repeats; the transport default when neither is set', () => {
    expect(
      engineUrls(engine({ type: 'piper', url: 'tcp://a:1', urls: ['tcp://b:1', 'tcp://a:1'] }), 'wyoming'),
    ).toEqual(['tcp://a:1', 'tcp://b:1']);
    expect(engineUrls(engine({ type: 'piper', urls: ['tcp://b:1'] }), 'wyoming')).toEqual(['tcp://b:1']);
    expect(engineUrls(engine({ type: 'piper' }), 'wyoming')).toEqual(['tcp://127.0.0.1:10200']);
    expect(engineUrls(engine({ type: 'espeak' }), 'cli')).toEqual([undefined]);
  });

  it('refuses urls on a CLI engine and weights that do not match the instances, saying what to do', () => {
    expect(() =>
      parseOptions({ engines: [{ name: 'espeak', type: 'espeak', urls: ['tcp://x:1'] }] }),
    ).toThrow(/engines\.espeak: urls is for engines reached over the network.*remove urls/);
    expect(() =>
      parseOptions({
        engines: [{ name: 'piper', type: 'piper', urls: ['tcp://a:1', 'tcp://b:1'], weights: [3] }],
      }),
    ).toThrow(/weights has 1 numbers but the engine has 2 instance\(s\)/);
    const ok = parseOptions({
      engines: [{ name: 'piper', type: 'piper', urls: ['tcp://a:1', 'tcp://b:1'], weights: [3, 1] }],
    });
    expect(ok.engines[0]).toMatchObject({ balance: 'least_outstanding', weights: [3, 1] });
    expect(ok.default_deadline_s).toBe(60);
  });
});

describe('deadline budget', () => {
  it('is deadline_s, else the default, and never later than the MQTT message expiry', () => {
    expect(budgetMs(undefined, undefined, 60_000)).toBe(60_000);
    expect(budgetMs(5, undefined, 60_000)).toBe(5000);
    expect(budgetMs(undefined, 10, 60_000)).toBe(10_000);
    expect(budgetMs(30, 3600, 60_000)).toBe(30_000);
  });
});

describe('deadline facts across a restart', () => {
  it('keeps a journaled request arrival time and MQTT 5 expiry, so a replay keeps its deadline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-hub-journal-'));
    try {
      const payload = Buffer.from('{"text": "Door open."}');
      const first = createRequestJournal({ dir, log: silentLog() });
      await first.open();
      const receivedAt = Date.now() - 5000;
      const { committed } = first.add({
        key: deliveryKey('hub', 'tts/say', 7, payload),
        topic: 'tts/say',
        payload,
        receivedAt,
        expiryS: 30,
      });
      await committed;
      await first.close();
      const second = createRequestJournal({ dir, log: silentLog() });
      const [replayed] = await second.open();
      expect(replayed).toMatchObject({ receivedAt, expiryS: 30 });
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('engine speed', () => {
  it('gives p50/p95 latency and RTF, and estimates only after a few samples', () => {
    const speed = createEngineSpeed();
    expect(speed.snapshot('piper')).toBeNull();
    for (const ms of [100, 200, 300, 400]) {
      speed.observe({ engine: 'piper', endpoint: 'tcp://a:1', ms, wallMs: ms, chars: 100, audioMs: 1000 });
      if (ms === 200) expect(speed.estimateMs('piper', 100)).toBeUndefined();
    }
    expect(speed.snapshot('piper')).toEqual({
      samples: 4,
      p50_ms: 200,
      p95_ms: 400,
      rtf_p50: 0.2,
      rtf_p95: 0.4,
    });
    expect(speed.estimateMs('piper', 1000)).toBe(2000); // median 2 ms per character
    expect(speed.estimateMs('piper', 1)).toBe(100); // never below its fastest synthesis
  });
});

describe('discovery of engine instances', () => {
  const ctx: DiscoveryContext = {
    prefix: 'homeassistant',
    deviceId: 'tts_hub',
    version: '1.2.3',
    topics: {
      status: 'tts/status',
      availability: 'tts/availability',
      recorder: 'recorder',
      notify: 'tts/notify',
      clearCache: 'tts/cache/clear',
    },
    engines: ['piper', 'espeak'],
    engineInstances: { piper: ['tcp://gpu:10200', 'tcp://pi:10200'], espeak: ['local'] },
    recorderDevices: [],
  };

  it('adds a binary sensor per instance of an engine with several, none for a single instance', () => {
    const { cmps } = buildDevicePayload(ctx, new Map());
    expect(cmps.engine_piper_instance_2).toMatchObject({
      p: 'binary_sensor',
      unique_id: 'tts_hub_engine_piper_instance_2',
      name: 'Engine piper 2 (tcp://pi:10200)',
      device_class: 'connectivity',
      value_template: expect.stringContaining('e.instances[1].healthy'),
    });
    expect(cmps.engine_piper_instance_1).toBeDefined();
    expect(cmps.engine_piper).toBeDefined();
    expect(Object.keys(cmps).filter((k) => k.startsWith('engine_espeak'))).toEqual(['engine_espeak']);
  });
});
