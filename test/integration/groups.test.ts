/**
 * Issue 18, groups and presets on real parts (three Wyoming speakers on the real `wyoming` package, espeak-ng,
 * ffmpeg, mosquitto): a group target plays on all its members at once, they all receive the same PCM (chime
 * included), the result lists each member with its group, and `wait: "all"` answers only after the last
 * member's `played`. A member whose preset adds a chime gets its own audio; the others share the result's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { type SpeakerReport, startWyomingSpeaker, type WyomingSpeaker } from '../servers/wyoming-speaker.js';

type Json = Record<string, unknown>;
/** Seconds on CLOCK_MONOTONIC, the clock the speakers' `t` uses (Python time.monotonic, Node hrtime). */
const monotonicS = (): number => Number(process.hrtime.bigint()) / 1e9;
const BYTES_PER_S = 22050 * 2;

describe('groups and presets', () => {
  let speakers: WyomingSpeaker[];
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    // Real-time speakers; the second and third are slower devices that report played later.
    speakers = await Promise.all(
      [0, 0.4, 1.2].map((extraDelayS) => startWyomingSpeaker({ realtime: true, extraDelayS })),
    );
    const [a, b, c] = speakers as [WyomingSpeaker, WyomingSpeaker, WyomingSpeaker];
    fx = await startHubFixture(
      {
        targets: [
          { name: 'kitchen', type: 'wyoming', url: a.url },
          { name: 'hall', type: 'wyoming', url: b.url },
          { name: 'attic', type: 'wyoming', url: c.url },
          // The same speaker as the attic, with a preset: a closing chime and a lead-in.
          { name: 'attic_alert', type: 'wyoming', url: c.url, chime_after: 'alert', lead_in_ms: 300 },
          // A preset naming a chime that does not exist: only this target fails.
          { name: 'hall_broken', type: 'wyoming', url: b.url, chime: 'trombone' },
        ],
        groups: [
          { name: 'house', targets: ['kitchen', 'hall', 'attic'] },
          { name: 'mixed', targets: ['kitchen', 'attic_alert'] },
          { name: 'flawed', targets: ['kitchen', 'hall_broken'] },
        ],
      },
      { lanAddress: true },
    );
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    await Promise.all((speakers ?? []).map((s) => s.stop()));
  });

  const stopOf = (s: WyomingSpeaker, after: number): Promise<SpeakerReport> =>
    s.waitFor((r) => r.event === 'stop' && r.t > after, 30_000);
  const playedOf = (s: WyomingSpeaker, conn: number | undefined): Promise<SpeakerReport> =>
    s.waitFor((r) => r.event === 'played' && r.conn === conn, 30_000);

  it('plays a group at once, the same PCM on every member, and waits for the last played', async () => {
    const before = monotonicS();
    const result = (await client.say(
      JSON.stringify({ id: 'g-1', text: 'Dinner is ready.', target: 'house', chime: 'ding', wait: 'all' }),
      'g-1',
      60_000,
    )) as Json;
    const answeredAt = monotonicS();
    expect(result).toMatchObject({ ok: true });
    const targets = result.targets as Json[];
    expect(targets.map((t) => [t.name, t.group, t.ok, t.end])).toEqual([
      ['kitchen', 'house', true, 'reported'],
      ['hall', 'house', true, 'reported'],
      ['attic', 'house', true, 'reported'],
    ]);
    const stops = await Promise.all(speakers.map((s) => stopOf(s, before)));
    const starts = speakers.map((s, i) =>
      s.reports.find((r) => r.event === 'start' && r.conn === stops[i]?.conn),
    );
    // Same PCM everywhere, as long as chime + speech.
    expect(new Set(stops.map((s) => s.sha256)).size).toBe(1);
    const receivedMs = ((stops[0]?.bytes as number) / BYTES_PER_S) * 1000;
    expect(Math.abs(receivedMs - (result.duration_ms as number))).toBeLessThan(100);
    // At once: the three deliveries started within a fraction of the audio's length.
    const startTimes = starts.map((s) => s?.t as number);
    expect(Math.max(...startTimes) - Math.min(...startTimes)).toBeLessThan(0.5);
    // After the last played: the slowest speaker reported it before the result was published.
    const played = await Promise.all(speakers.map((s, i) => playedOf(s, stops[i]?.conn)));
    const lastPlayed = Math.max(...played.map((p) => p.t));
    expect(lastPlayed).toBe(played[2]?.t);
    expect(answeredAt).toBeGreaterThan(lastPlayed);
    // Each member's end is its own: the slow attic ended later than the kitchen, by about the extra 1.2 s
    // (less the difference in when their deliveries started).
    const ended = targets.map((t) => t.ended_ms as number);
    expect((ended[2] as number) - (ended[0] as number)).toBeGreaterThan(500);
    expect((result.latency_ms as Json).total as number).toBeGreaterThanOrEqual(ended[2] as number);
  });

  it('gives a member whose preset differs its own audio, the others the shared one', async () => {
    const before = monotonicS();
    const result = (await client.say(
      JSON.stringify({ id: 'g-2', text: 'The post has arrived.', target: 'mixed' }),
      'g-2',
      60_000,
    )) as Json;
    expect(result).toMatchObject({ ok: true });
    const [kitchen, alert] = result.targets as Json[];
    expect(kitchen).toEqual({ name: 'kitchen', group: 'mixed', ok: true });
    expect(alert).toMatchObject({ name: 'attic_alert', group: 'mixed', ok: true });
    expect(alert?.url).toMatch(/\/api\/audio\/[0-9a-f]{64}\.opus$/);
    expect(alert?.url).not.toBe(result.url);
    const [a, , c] = speakers as [WyomingSpeaker, WyomingSpeaker, WyomingSpeaker];
    const [plainStop, alertStop] = await Promise.all([stopOf(a, before), stopOf(c, before)]);
    const extraMs = (((alertStop.bytes as number) - (plainStop.bytes as number)) / BYTES_PER_S) * 1000;
    // 300 ms lead-in + the 350 ms alert chime.
    expect(Math.abs(extraMs - 650)).toBeLessThan(60);
    // A request's own field beats the preset: no closing chime, no lead-in, the same audio for both.
    const overridden = (await client.say(
      JSON.stringify({
        id: 'g-3',
        text: 'The post has arrived.',
        target: 'mixed',
        chime_after: 'none',
        lead_in_ms: 0,
      }),
      'g-3',
      60_000,
    )) as Json;
    expect(overridden.targets).toEqual([
      { name: 'kitchen', group: 'mixed', ok: true },
      { name: 'attic_alert', group: 'mixed', ok: true },
    ]);
    expect(overridden).toMatchObject({ cached: true, url: result.url });
  });

  it('fails only the member whose preset names an unknown chime', async () => {
    const result = (await client.say(
      JSON.stringify({ id: 'g-4', text: 'The oven is hot.', target: 'flawed' }),
      'g-4',
      60_000,
    )) as Json;
    expect(result).toMatchObject({ ok: true });
    const [kitchen, broken] = result.targets as Json[];
    expect(kitchen).toEqual({ name: 'kitchen', group: 'flawed', ok: true });
    expect(broken).toMatchObject({ name: 'hall_broken', group: 'flawed', ok: false });
    expect(broken?.error).toMatch(/^CHIME_NOT_FOUND: chime 'trombone' not found; known chimes: .*ding/);
  });
});
