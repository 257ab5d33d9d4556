import { describe, expect, it } from 'vitest';
import {
  buildDevicePayload,
  type DiscoveryContext,
  discoveryTopic,
  liveComponents,
} from '../../src/mqtt/discovery.js';

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
  engines: ['piper', 'Espeak NG'],
  recorderDevices: ['porch', 'kitchen'],
};

describe('discovery payload', () => {
  it('serializes the same setup to the same bytes, whatever the order devices were seen in', () => {
    const a = JSON.stringify(buildDevicePayload(ctx, new Map()));
    const b = JSON.stringify(
      buildDevicePayload({ ...ctx, recorderDevices: ['kitchen', 'porch'] }, new Map()),
    );
    expect(a).toBe(b);
    expect(discoveryTopic(ctx.prefix, ctx.deviceId)).toBe('homeassistant/device/tts_hub/config');
  });

  it('gives engines slugged component ids and health from tts/status', () => {
    const p = buildDevicePayload(ctx, new Map());
    expect(p.cmps.engine_espeak_ng).toMatchObject({
      p: 'binary_sensor',
      unique_id: 'tts_hub_engine_espeak_ng',
      value_template: expect.stringContaining('"Espeak NG"'),
    });
    expect(p.dev).toEqual({
      ids: ['tts_hub'],
      name: 'TTS Hub',
      mf: 'TTS Hub',
      mdl: 'Text-to-speech hub',
      sw: '1.2.3',
    });
    expect(p.o).toEqual({ name: 'tts-hub', sw: '1.2.3' });
  });

  it('sends removed components as {p} after the live ones, and does not count them as live', () => {
    const removed = new Map([
      ['rec_attic_state', 'sensor'],
      ['engine_old', 'binary_sensor'],
    ]);
    const p = buildDevicePayload(ctx, removed);
    const keys = Object.keys(p.cmps);
    expect(keys.slice(-2)).toEqual(['engine_old', 'rec_attic_state']);
    expect(p.cmps.engine_old).toEqual({ p: 'binary_sensor' });
    const live = liveComponents(JSON.parse(JSON.stringify(p)));
    expect(live.has('engine_old')).toBe(false);
    expect(live.get('rec_kitchen_size')).toBe('sensor');
    expect(liveComponents('garbage')).toEqual(new Map());
  });
});
