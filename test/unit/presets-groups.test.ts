/** Groups and presets in the options, request fields for chimes, and how presets merge under a request. */
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { parseOptions } from '../../src/config/load.js';
import { toSayRequest } from '../../src/inputs/say-payload.js';
import { resolveTargets, specFromOptions } from '../../src/playback/targets.js';
import { mixKey } from '../../src/say/chimes.js';
import { commonPreset, sameAudio, withPreset } from '../../src/say/presets.js';

const TARGETS = [
  { name: 'kitchen', type: 'wyoming', url: 'tcp://10.0.0.2:10601', chime: 'ding', lead_in_ms: 300 },
  { name: 'hall', type: 'wyoming', url: 'tcp://10.0.0.3:10601', chime: 'ding', voice: 'en-gb' },
];

describe('groups and presets in the options', () => {
  it('refuses a group naming an unknown target, with the name', () => {
    expect(() =>
      parseOptions({ targets: TARGETS, groups: [{ name: 'house', targets: ['kitchen', 'garage'] }] }),
    ).toThrow(
      /groups\[0\]\.targets: unknown target 'garage' in group 'house'; configured targets: kitchen, hall/,
    );
  });

  it('accepts addresses as members, refuses duplicate group names and names taken by targets', () => {
    expect(
      parseOptions({ targets: TARGETS, groups: [{ name: 'all', targets: ['kitchen', 'media_player.den'] }] })
        .groups,
    ).toHaveLength(1);
    expect(() =>
      parseOptions({
        targets: TARGETS,
        groups: [
          { name: 'kitchen', targets: ['hall'] },
          { name: 'up', targets: ['hall'] },
          { name: 'up', targets: ['kitchen'] },
        ],
      }),
    ).toThrow(
      /groups\[0\]\.name: 'kitchen' is already a target's name[\s\S]*groups\[2\]\.name: duplicate group name 'up'/,
    );
  });

  it('refuses a preset engine that is not configured, and preset values out of range', () => {
    expect(() => parseOptions({ targets: [{ ...TARGETS[0], engine: 'piper' }] })).toThrow(
      /targets\[0\]\.engine: 'piper' is not in engines\[\]/,
    );
    expect(() => parseOptions({ targets: [{ ...TARGETS[0], lead_in_ms: -5 }] })).toThrow(/lead_in_ms/);
    expect(() => parseOptions({ chimes: { max_duration_s: 0 } })).toThrow(/max_duration_s/);
  });

  it('expands groups in request order, each target once, keeping the group it came through', () => {
    const options = parseOptions({
      targets: TARGETS,
      groups: [
        { name: 'house', targets: ['kitchen', 'hall'] },
        { name: 'down', targets: ['kitchen', 'media_player.den'] },
      ],
    });
    const configured = new Map(options.targets.map((t) => [t.name, specFromOptions(t)]));
    const groups = new Map(options.groups.map((g) => [g.name, g.targets]));
    const plan = resolveTargets(['down', 'house', 'hall'], configured, groups);
    expect(plan.map((t) => [t.name, t.group])).toEqual([
      ['kitchen', 'down'],
      ['media_player.den', 'down'],
      ['hall', undefined],
    ]);
    expect(plan[0]?.preset).toEqual({ chime: 'ding', leadInMs: 300 });
    expect(() => resolveTargets(['attic'], configured, groups)).toThrow(/groups: house, down/);
  });
});

describe('chime fields in requests', () => {
  it('takes chime, chime_after, offset_ms, lead_in_ms, announce, media_content_type, preset and wait: all', () => {
    const r = toSayRequest(
      {
        text: 'Hi.',
        chime: 'ding',
        chime_after: 'none',
        offset_ms: -200,
        lead_in_ms: 150,
        announce: false,
        media_content_type: 'music',
        preset: 'kitchen',
        wait: 'all',
        format: 'mp3',
      },
      100,
    );
    expect(r).toMatchObject({
      chime: 'ding',
      chimeAfter: 'none',
      offsetMs: -200,
      leadInMs: 150,
      announce: false,
      mediaContentType: 'music',
      preset: 'kitchen',
      wait: true,
      waitAll: true,
      formatGiven: true,
    });
    expect(toSayRequest({ text: 'Hi.' }, 100)).not.toHaveProperty('formatGiven');
  });

  it.each([
    [{ offset_ms: 20_000 }, /offset_ms/],
    [{ lead_in_ms: -1 }, /lead_in_ms/],
    [{ lead_in_ms: 1.5 }, /lead_in_ms/],
    [{ wait: 'some' }, /wait/],
    [{ chime: 'x'.repeat(65) }, /chime/],
  ])('refuses %j with BAD_PAYLOAD', (extra, field) => {
    expect(() => toSayRequest({ text: 'Hi.', ...extra }, 100)).toThrow(field);
  });
});

describe('presets under a request', () => {
  const base = toSayRequest({ text: 'Hi.', voice: 'en-us' }, 100);

  it('fills only what the request leaves open', () => {
    const merged = withPreset(base, { voice: 'en-gb', chime: 'ding', leadInMs: 300 });
    expect(merged).toMatchObject({ voice: 'en-us', chime: 'ding', leadInMs: 300 });
  });

  it('keeps what all targets agree on, and tells which targets sound the same', () => {
    const kitchen = { chime: 'ding', leadInMs: 300 };
    const hall = { chime: 'ding', voice: 'en-gb' };
    expect(commonPreset([kitchen, hall])).toEqual({ chime: 'ding' });
    expect(commonPreset([kitchen])).toEqual(kitchen);
    const own = withPreset(base, commonPreset([kitchen, hall]));
    expect(sameAudio(withPreset(base, hall), own)).toBe(true); // the request's voice wins over the hall's
    expect(sameAudio(withPreset(base, kitchen), own)).toBe(false); // the lead-in differs
  });
});

describe('cache keys with chimes', () => {
  const key = { engine: 'espeak', voice: '', format: 'opus' as const, text: 'Hi.' };
  const ref = (hash: string) => ({ name: 'x', source: 'user' as const, path: '/x.ogg', bytes: 1, hash });

  it('keeps plain speech keys as they were, and changes with each chime hash, offset and lead-in', () => {
    expect(cacheKey({ ...key, mix: mixKey(undefined) })).toBe(cacheKey(key));
    const a = cacheKey({ ...key, mix: mixKey({ before: ref('a'.repeat(64)), offsetMs: 0, leadInMs: 0 }) });
    const b = cacheKey({ ...key, mix: mixKey({ before: ref('b'.repeat(64)), offsetMs: 0, leadInMs: 0 }) });
    const after = cacheKey({ ...key, mix: mixKey({ after: ref('a'.repeat(64)), offsetMs: 0, leadInMs: 0 }) });
    const offset = cacheKey({
      ...key,
      mix: mixKey({ before: ref('a'.repeat(64)), offsetMs: 5, leadInMs: 0 }),
    });
    const lead = cacheKey({ ...key, mix: mixKey({ offsetMs: 0, leadInMs: 100 }) });
    expect(new Set([cacheKey(key), a, b, after, offset, lead]).size).toBe(6);
  });
});

describe('chimes in schedules', () => {
  it("passes a schedule's chime and chime_after to the say service", async () => {
    const { createSchedules } = await import('../../src/schedules/schedule-adapter.js');
    const { silentLog } = await import('../../src/shared/log.js');
    const seen: unknown[] = [];
    const say = {
      say: async (request: unknown) => {
        seen.push(request);
        return { id: 'x', cached: false };
      },
    } as unknown as Parameters<typeof createSchedules>[0]['say'];
    const schedules = createSchedules({
      schedules: [
        { cron: '0 8 * * *', say: 'Good morning.', target: 'house', chime: 'soft', chime_after: 'done' },
      ],
      say,
      maxTextChars: 100,
      log: silentLog(),
    });
    await schedules.runNow(0);
    expect(seen).toMatchObject([
      { text: 'Good morning.', targets: ['house'], chime: 'soft', chimeAfter: 'done' },
    ]);
  });
});
