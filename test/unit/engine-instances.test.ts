import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { buildDevicePayload, type DiscoveryContext } from '../../src/mqtt/discovery.js';
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
