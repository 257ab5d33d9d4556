import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/load.js';
import { TargetOptionsSchema } from '../../src/config/schema.js';
import { splitPcm } from '../../src/playback/sinks/hermes.js';
import { adHocSpec, resolveTargets, specFromOptions, targetProblems } from '../../src/playback/targets.js';
import { isAppError } from '../../src/shared/errors.js';

const target = (raw: Record<string, unknown>) => TargetOptionsSchema.parse(raw);

describe('target resolution', () => {
  it('reads ad-hoc addresses and refuses anything else', () => {
    expect(adHocSpec('media_player.kitchen')).toMatchObject({
      type: 'media_player',
      entityId: 'media_player.kitchen',
      name: 'media_player.kitchen',
    });
    expect(adHocSpec('assist_satellite.hall')).toMatchObject({
      type: 'assist_satellite',
      entityId: 'assist_satellite.hall',
    });
    expect(adHocSpec('hermes:bedroom')).toMatchObject({ type: 'hermes', siteId: 'bedroom' });
    expect(adHocSpec('tcp://10.0.0.5:10601')).toMatchObject({ type: 'wyoming', url: 'tcp://10.0.0.5:10601' });
    for (const bad of [
      'kitchen',
      'media_player.Kitchen',
      'light.kitchen',
      'hermes:a/b',
      'hermes:+',
      'media_player.',
    ]) {
      expect(adHocSpec(bad)).toBeUndefined();
    }
  });

  it('gives a named target and the same entity addressed directly one queue key', () => {
    const named = specFromOptions(
      target({ name: 'sonos', type: 'media_player', entity_id: 'media_player.living_room' }),
    );
    expect(named.key).toBe(adHocSpec('media_player.living_room')?.key);
  });

  it('throws TARGET_NOT_FOUND naming the configured targets', () => {
    const configured = new Map([
      [
        'sonos',
        specFromOptions(target({ name: 'sonos', type: 'media_player', entity_id: 'media_player.x' })),
      ],
    ]);
    expect(resolveTargets(['sonos', 'sonos', 'hermes:k'], configured).map((s) => s.name)).toEqual([
      'sonos',
      'hermes:k',
    ]);
    try {
      resolveTargets(['garage'], configured);
      expect.unreachable();
    } catch (err) {
      expect(isAppError(err, 'TARGET_NOT_FOUND')).toBe(true);
      expect((err as Error).message).toContain(
        "target 'garage' is not configured; configured targets: sonos",
      );
    }
  });

  it('lists every configuration problem', () => {
    const problems = targetProblems([
      target({ name: 'a', type: 'media_player' }),
      target({ name: 'a', type: 'hermes', site_id: 'x/y' }),
      target({ name: 'w', type: 'wyoming', url: 'http://host:10601' }),
      target({ name: 'm', type: 'mqtt', url: 'sat/+/play' }),
      target({ name: 's', type: 'assist_satellite', entity_id: 'media_player.s' }),
    ]);
    expect(problems).toEqual([
      'targets[0].entity_id: a media_player target needs entity_id (media_player.<name>)',
      "targets[1].name: duplicate target name 'a'",
      "targets[1].site_id: 'x/y' must not contain /, +, # or spaces",
      "targets[2].url: 'http://host:10601' must look like tcp://host:port",
      "targets[3].url: topic 'sat/+/play' must not hold wildcards",
      "targets[4].entity_id: 'media_player.s' must look like assist_satellite.<name>",
    ]);
  });

  it('reports target problems when the options are loaded, beside the other option problems', () => {
    const load = () =>
      parseOptions({
        default_engine: 'nope',
        targets: [
          { name: 'k', type: 'media_player' },
          { name: 'h', type: 'hermes' },
        ],
      });
    expect(load).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(load).toThrow(
      /default_engine: 'nope' is not in engines\[\].*\n.*targets\[0\]\.entity_id: a media_player target needs entity_id.*\n.*targets\[1\]\.site_id: a hermes target needs site_id/,
    );
  });

  it('splits PCM into WAV-sized parts of whole frames', () => {
    const parts = splitPcm(Buffer.alloc(1000), 44 + 300, 2);
    expect(parts.map((p) => p.length)).toEqual([300, 300, 300, 100]);
    expect(splitPcm(Buffer.alloc(0), 1000, 2)).toHaveLength(1);
  });
});
