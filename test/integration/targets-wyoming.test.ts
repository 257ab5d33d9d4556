/**
 * Wyoming speaker targets against a speaker built on the real `wyoming` PyPI package
 * (test/servers/wyoming-speaker.py, behaving like wyoming-snd-external): the PCM it receives has the right
 * format and duration; deliveries to one speaker never overlap; a high-priority request interrupts what plays;
 * an unreachable speaker fails alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import type { SayClient } from '../helpers/mqtt.js';
import { freePort } from '../helpers/ports.js';
import { startWyomingSpeaker, type WyomingSpeaker } from '../servers/wyoming-speaker.js';

const say = (client: SayClient, body: Record<string, unknown>) =>
  client.say(JSON.stringify(body), body.id as string, 60_000);

describe('wyoming targets', () => {
  let speaker: WyomingSpeaker;
  let slow: WyomingSpeaker;
  let fx: HubFixture;
  let client: SayClient;

  beforeAll(async () => {
    [speaker, slow] = await Promise.all([startWyomingSpeaker(), startWyomingSpeaker({ realtime: true })]);
    const gone = `tcp://127.0.0.1:${await freePort()}`;
    fx = await startHubFixture(
      {
        targets: [
          { name: 'pi', type: 'wyoming', url: speaker.url },
          { name: 'slow', type: 'wyoming', url: slow.url },
          { name: 'gone', type: 'wyoming', url: gone },
        ],
      },
      { lanAddress: true },
    );
    client = fx.client;
  });
  afterAll(async () => {
    await fx?.close();
    await Promise.all([speaker?.stop(), slow?.stop()]);
  });

  it('pushes PCM whose duration matches the speech and waits for played', async () => {
    const before = speaker.reports.length;
    const result = await say(client, { id: 'w-1', text: 'The front door is open.', target: 'pi' });
    expect(result).toMatchObject({ ok: true, targets: [{ name: 'pi', ok: true }] });
    // This test's stream: reports before it belong to other tests.
    const start = await speaker.waitFor((r) => r.event === 'start' && speaker.reports.indexOf(r) >= before);
    expect(start).toMatchObject({ rate: 22050, width: 2, channels: 1 });
    const closed = await speaker.waitFor((r) => r.event === 'closed' && r.conn === start?.conn);
    expect(closed.played).toBe(true);
    const receivedMs = ((closed.bytes as number) / (22050 * 2)) * 1000;
    expect(Math.abs(receivedMs - (result.duration_ms as number))).toBeLessThan(100);
    expect(speaker.reports.some((r) => r.event === 'format_mismatch')).toBe(false);
  });

  it('reports an unreachable speaker without failing the other target', async () => {
    const result = await say(client, { id: 'w-2', text: 'Two speakers.', target: ['pi', 'gone'] });
    expect(result.ok).toBe(true);
    const targets = result.targets as Array<{ name: string; ok: boolean; error?: string }>;
    expect(targets[0]).toEqual({ name: 'pi', ok: true });
    expect(targets[1]).toMatchObject({ name: 'gone', ok: false });
    expect(targets[1]?.error).toMatch(/^SINK_UNREACHABLE: cannot connect to Wyoming service/);
  });

  it('plays two requests to one speaker one after the other', async () => {
    const before = slow.reports.length;
    const [a, b] = await Promise.all([
      say(client, { id: 'q-1', text: 'First message.', target: 'slow' }),
      say(client, { id: 'q-2', text: 'Second message.', target: 'slow' }),
    ]);
    expect(a).toMatchObject({ ok: true, targets: [{ name: 'slow', ok: true }] });
    expect(b).toMatchObject({ ok: true, targets: [{ name: 'slow', ok: true }] });
    // The speaker reports through its stdout, which may arrive after the MQTT results.
    await expect
      .poll(() => slow.reports.slice(before).filter((r) => r.event === 'closed').length, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2);
    const mine = slow.reports.slice(before);
    const conns = [...new Set(mine.filter((r) => r.event === 'start').map((r) => r.conn))];
    expect(conns).toHaveLength(2);
    const firstClosed = mine.find((r) => r.event === 'closed' && r.conn === conns[0]);
    const secondStart = mine.find((r) => r.event === 'start' && r.conn === conns[1]);
    expect(firstClosed?.played).toBe(true);
    // The speaker's own clock: the second stream began only after the first had played and closed.
    expect(secondStart?.t).toBeGreaterThanOrEqual(firstClosed?.t as number);
  });

  it('lets a high-priority request interrupt what plays on the speaker', async () => {
    const before = slow.reports.length;
    const long = say(client, {
      id: 'i-1',
      text: 'This is a long weather report. Tomorrow will be cloudy with some rain in the afternoon. The wind comes from the west.',
      target: 'slow',
    });
    const started = await slow.waitFor((r) => r.event === 'stop' && slow.reports.indexOf(r) >= before);
    const urgent = await say(client, { id: 'i-2', text: 'Smoke alarm!', target: 'slow', priority: 'high' });
    const first = await long;
    expect(urgent).toMatchObject({ ok: true, targets: [{ name: 'slow', ok: true }] });
    const outcome = (first.targets as Array<{ ok: boolean; error?: string }>)[0];
    expect(outcome?.ok).toBe(false);
    expect(outcome?.error).toMatch(/^ABORTED: interrupted on target 'slow' by a high-priority request/);
    // The speaker reports through its stdout, which may arrive after the MQTT result: wait for the reports.
    const interrupted = await slow.waitFor((r) => r.event === 'closed' && r.conn === started.conn);
    expect(interrupted?.played).toBe(false);
    const next = await slow.waitFor(
      (r) => r.event === 'start' && (r.conn as number) > (started.conn as number),
    );
    expect(next?.t).toBeGreaterThanOrEqual(interrupted?.t as number);
    const urgentClosed = await slow.waitFor((r) => r.event === 'closed' && r.conn === next?.conn);
    expect(urgentClosed?.played).toBe(true);
  });
});
