/**
 * At-least-once delivery (issue 10, DESIGN "Delivery and limits"), with a real mosquitto and the hub as a real
 * child process in its own process group; signals go to the whole group (`process.kill(-pid, …)`), as systemd,
 * Ctrl-C and `kill -- -PGID` send them, so the hub's ffmpeg and engine children die with it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubProcess, startHub } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import { startWyomingSpeaker, type WyomingSpeaker } from '../servers/wyoming-speaker.js';

interface Result {
  id: string;
  ok: boolean;
  error?: { code: string };
  delivered?: boolean;
  targets?: Array<{ name: string; ok: boolean }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Results on tts/result so far, by id (every answer kept). */
function resultsById(client: SayClient): Map<string, Result[]> {
  const byId = new Map<string, Result[]>();
  for (const m of client.received) {
    if (m.topic !== 'tts/result') continue;
    const r = JSON.parse(m.payload.toString()) as Result;
    byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  }
  return byId;
}

/** Whether a request journal under `shareDir` records that `target` has the audio (a `{"g": seq, "n": target}` line). */
function journalHasTarget(shareDir: string, target: string): boolean {
  const files = readdirSync(shareDir, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('requests.journal'),
  );
  return files.some((f) =>
    readFileSync(join(shareDir, f), 'utf8')
      .split('\n')
      .some((line) => line.includes('"g":') && line.includes(`"n":${JSON.stringify(target)}`)),
  );
}

/** A say each: distinct texts, so nothing is a cache hit and each costs a real synthesis. */
const sayText = (i: number) =>
  `Announcement number ${i}: the ${['red', 'green', 'blue'][i % 3]} door is open.`;

describe('at-least-once delivery through faults', () => {
  let broker: RunningMosquitto;
  let client: SayClient;
  const hubs: HubProcess[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    client = await connectSayClient(broker.url, { extraTopics: ['tts/availability'] });
  });
  afterAll(async () => {
    await Promise.all(hubs.map((h) => h.stop(5000)));
    for (const h of hubs) h.cleanup();
    await client?.close();
    await broker?.stop();
  }, 30_000);

  const options = (clientId: string, extra: Record<string, unknown> = {}) => ({
    mqtt: { url: broker.url, client_id: clientId },
    engines: [{ name: 'espeak', type: 'espeak', max_parallel: 1 }],
    ...extra,
  });

  it('SIGKILL of the process group with says queued: every say is answered after the restart', async () => {
    const first = await startHub(options('kill-1'));
    hubs.push(first);
    const ids = Array.from({ length: 20 }, (_, i) => `kill-${i}`);
    for (const [i, id] of ids.entries()) {
      await client.client.publishAsync('tts/say', JSON.stringify({ id, text: sayText(i) }), { qos: 1 });
    }
    // Kill once the hub has answered a few: the rest are taken (acknowledged) but unfinished.
    await expect.poll(() => resultsById(client).has('kill-1'), { timeout: 30_000 }).toBe(true);
    first.signalGroup('SIGKILL');
    await first.exited;
    const answeredBefore = ids.filter((id) => resultsById(client).has(id)).length;
    expect(answeredBefore).toBeLessThan(ids.length);
    const second = await startHub(options('kill-1'), { shareDir: first.shareDir });
    hubs.push(second);
    await expect
      .poll(() => ids.filter((id) => !resultsById(client).has(id)), { timeout: 60_000 })
      .toEqual([]);
    const results = resultsById(client);
    for (const id of ids) expect(results.get(id)?.every((r) => r.ok)).toBe(true);
    expect(second.logs().some((l) => l.msg === 'replaying unfinished requests')).toBe(true);
    expect(await second.stop()).toBe(0); // every hub here subscribes tts/say: none may outlive its test
  });

  it('SIGTERM while says keep arriving: all are answered ok by the next start, none SHUTTING_DOWN', async () => {
    const first = await startHub(options('term-1'));
    hubs.push(first);
    const ids = Array.from({ length: 16 }, (_, i) => `term-${i}`);
    let stopping: Promise<number | null> | undefined;
    for (const [i, id] of ids.entries()) {
      await client.client.publishAsync('tts/say', JSON.stringify({ id, text: sayText(100 + i) }), { qos: 1 });
      if (i === 5) stopping = first.stop(15_000);
      await sleep(100); // paces the publishes so that some arrive during the shutdown; waits for nothing
    }
    expect(await stopping).toBe(0);
    const second = await startHub(options('term-1'), { shareDir: first.shareDir });
    hubs.push(second);
    await expect
      .poll(() => ids.filter((id) => !resultsById(client).has(id)), { timeout: 60_000 })
      .toEqual([]);
    const all = ids.flatMap((id) => resultsById(client).get(id) ?? []);
    expect(all.filter((r) => !r.ok)).toEqual([]);
    expect(await second.stop()).toBe(0);
  });

  describe('with a Wyoming speaker target', () => {
    let speaker: WyomingSpeaker;
    beforeAll(async () => {
      speaker = await startWyomingSpeaker({ realtime: true });
    });
    afterAll(async () => {
      await speaker?.stop();
    });

    it('a request replayed after SIGKILL does not play again to a speaker that already got it', async () => {
      const target = { name: 'den', type: 'wyoming', url: speaker.url };
      const first = await startHub(options('replay-1', { targets: [target] }));
      hubs.push(first);
      const text =
        'This announcement is long enough that the speaker is still playing it when the hub is killed.';
      await client.client.publishAsync('tts/say', JSON.stringify({ id: 'replay-1', text, target: 'den' }), {
        qos: 1,
      });
      // The speaker has all the audio (audio-stop) and plays it in real time; the hub waits for `played`.
      await speaker.waitFor((r) => r.event === 'stop', 30_000);
      // The journal's group commit of the target record.
      await expect.poll(() => journalHasTarget(first.shareDir, 'den'), { timeout: 5000 }).toBe(true);
      expect(resultsById(client).get('replay-1')).toBeUndefined();
      first.signalGroup('SIGKILL');
      await first.exited;
      const second = await startHub(options('replay-1', { targets: [target] }), { shareDir: first.shareDir });
      hubs.push(second);
      await expect.poll(() => resultsById(client).has('replay-1'), { timeout: 30_000 }).toBe(true);
      expect(resultsById(client).get('replay-1')).toEqual([
        expect.objectContaining({ ok: true, delivered: true, targets: [{ name: 'den', ok: true }] }),
      ]);
      await sleep(500); // proves a negative: no second playback starts after the replayed result
      expect(speaker.reports.filter((r) => r.event === 'start')).toHaveLength(1);
      expect(await second.stop()).toBe(0);
    });
  });
});
