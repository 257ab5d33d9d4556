/**
 * Two hubs on one broker and one share volume (issue 15), as real processes in their own process groups, on
 * a real mosquitto: requests spread by the shared subscription, a hub SIGKILLed (whole group) mid-run and
 * restarted, a rolling restart under a steady load with Home Assistant's service entities watched on the
 * discovery availability topics, and a hub that dies for good whose work another hub takes over.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Observer, observe, startGroupHub } from '../helpers/hub-group.js';
import type { HubProcess } from '../helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TARGETS = 50;
const SERVICE_CONFIG = 'homeassistant/device/tts_hub_group_house/config';

/** A short announcement; `variants` distinct texts, so most requests are cache hits after the first few. */
const text = (i: number, variants = 40) => `Alert ${i % variants}.`;

describe('two hubs, one broker, one share volume', () => {
  let broker: RunningMosquitto;
  let shareDir: string;
  let obs: Observer;
  const hubs = new Map<string, HubProcess>();
  const all: HubProcess[] = [];

  const start = async (id: string, takeoverS = 10): Promise<HubProcess> => {
    const hub = await startGroupHub(broker.url, id, shareDir, { targets: TARGETS, takeoverS });
    hubs.set(id, hub);
    all.push(hub);
    return hub;
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    shareDir = mkdtempSync(join(tmpdir(), 'tts-hub-group-'));
    obs = await observe(broker.url, [SERVICE_CONFIG]);
    await Promise.all([start('hub_a'), start('hub_b')]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(all.map((h) => h.stop(5000)));
    for (const h of all) h.cleanup();
    await obs?.close();
    await broker?.stop();
    rmSync(shareDir, { recursive: true, force: true });
  }, 60_000);

  const answeredOk = (ids: string[]) => ids.every((id) => obs.answers.get(id)?.some((a) => a.ok));
  /** For a timeout: the ids without an ok answer and what the hubs logged about them. */
  const explain = (ids: string[]): string => {
    const missing = ids.filter((id) => !obs.answers.get(id)?.some((a) => a.ok));
    const lines = all.flatMap((h) =>
      h
        .output()
        .split('\n')
        .filter((l) => missing.some((id) => l.includes(`"${id}"`)) || /took over|replay/.test(l)),
    );
    return `missing: ${missing.join(', ')}\n${lines.slice(-40).join('\n')}`;
  };

  it('300 requests from three publishers, one hub SIGKILLed mid-run and restarted: every id answered ok, no target played twice', async () => {
    const publishers = await Promise.all(
      [0, 1, 2].map((p) => mqtt.connectAsync(broker.url, { clientId: `pub-${p}`, protocolVersion: 5 })),
    );
    const ids = Array.from({ length: 300 }, (_, i) => `k-${i}`);
    const sending = publishers.map(async (pub, p) => {
      for (let i = p; i < ids.length; i += 3) {
        const body = { id: ids[i], text: text(i), target: `sat${i % TARGETS}` };
        await pub.publishAsync('tts/say', JSON.stringify(body), { qos: 1 });
        await sleep(100); // paces the publishers so that the kill lands mid-run; waits for nothing
      }
    });
    // Kill hub A (its whole process group) while requests keep coming: it holds some in every state.
    await expect.poll(() => obs.answers.size, { timeout: 120_000 }).toBeGreaterThanOrEqual(60);
    const a = hubs.get('hub_a') as HubProcess;
    a.signalGroup('SIGKILL');
    await a.exited;
    await Promise.all(sending);
    await start('hub_a');
    await vi.waitFor(() => expect(answeredOk(ids), explain(ids)).toBe(true), {
      timeout: 180_000,
      interval: 500,
    });
    await Promise.all(publishers.map((p) => p.endAsync()));

    const twice = ids.filter((id) => (obs.answers.get(id)?.length ?? 0) > 1);
    const failed = ids.flatMap((id) => obs.answers.get(id) ?? []).filter((x) => !x.ok);
    const byHub = new Map<string, number>();
    for (const id of ids) {
      const hub = obs.answers.get(id)?.[0]?.hub ?? '?';
      byHub.set(hub, (byHub.get(hub) ?? 0) + 1);
    }
    const playedTwice = [...obs.plays].filter(([, n]) => n > 1).map(([k]) => k);
    process.stdout.write(
      `  failover: ${ids.length} ids answered ok; answered twice: ${twice.length}; first answers by hub: ${JSON.stringify(Object.fromEntries(byHub))}; targets played twice: ${playedTwice.length}\n`,
    );
    expect(failed).toEqual([]);
    expect(playedTwice).toEqual([]);
    // Every request reached a target once at least.
    for (const [i, id] of ids.entries()) expect(obs.plays.get(`${id}|sat/${i % TARGETS}`)).toBeGreaterThan(0);
    // The broker spread the work: both hubs answered some.
    expect(byHub.get('hub_a')).toBeGreaterThan(0);
    expect(byHub.get('hub_b')).toBeGreaterThan(0);
  }, 300_000);

  it('rolling restart (A stopped and started, then B) under 5 says a second: none lost, the service entities never unavailable', async () => {
    const config = JSON.parse((obs.last.get(SERVICE_CONFIG) ?? Buffer.from('{}')).toString()) as {
      cmps: Record<string, { availability?: Array<{ topic: string }>; availability_mode?: string }>;
    };
    const service = ['say', 'clear_cache'].map((c) => config.cmps[c]);
    for (const c of service) expect(c?.availability_mode).toBe('any');
    const topics = (service[0]?.availability ?? []).map((x) => x.topic).sort();
    expect(topics).toEqual(['tts/availability/hub_a', 'tts/availability/hub_b']);
    const from = obs.availability.length;

    const pub = await mqtt.connectAsync(broker.url, { clientId: 'pub-rolling', protocolVersion: 5 });
    const ids: string[] = [];
    let sending = true;
    const steady = (async () => {
      for (let i = 0; sending; i++) {
        const id = `r-${i}`;
        ids.push(id);
        await pub.publishAsync('tts/say', JSON.stringify({ id, text: text(i, 10) }), { qos: 1 });
        await sleep(200); // a steady stream during the restarts; waits for nothing
      }
    })();
    for (const id of ['hub_a', 'hub_b']) {
      await sleep(1500); // requests keep flowing between restarts; waits for nothing
      expect(await hubs.get(id)?.stop()).toBe(0);
      await start(id, 2);
    }
    await sleep(1500); // a last stretch of requests after both restarts; waits for nothing
    sending = false;
    await steady;
    await expect.poll(() => answeredOk(ids), { timeout: 120_000 }).toBe(true);
    await pub.endAsync();
    expect(ids.length).toBeGreaterThan(30);

    // Replay the availability messages seen since the restart began: after each, some hub was online.
    const state = new Map(topics.map((t) => [t, true]));
    const events = obs.availability.slice(from).filter((e) => topics.includes(e.topic));
    expect(
      events
        .filter((e) => !e.online)
        .map((e) => e.topic)
        .sort(),
    ).toEqual(topics);
    for (const e of events) {
      state.set(e.topic, e.online);
      expect([...state.values()].some(Boolean), `after ${e.topic} ${e.online} at ${e.at} ms`).toBe(true);
    }
    const twice = ids.filter((id) => (obs.answers.get(id)?.length ?? 0) > 1).length;
    process.stdout.write(`  rolling restart: ${ids.length} ids answered ok, answered twice: ${twice}\n`);
  }, 300_000);

  it('a hub that dies for good: another hub takes over its broker session and then its journal; all answered, none twice on a target', async () => {
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'pub-dead', protocolVersion: 5 });
    const ids = Array.from({ length: 24 }, (_, i) => `d-${i}`);
    for (const [i, id] of ids.entries()) {
      const body = {
        id,
        text: `Message ${i} for the dead hub test: the garage door is still open.`,
        target: `sat${i % TARGETS}`,
      };
      await pub.publishAsync('tts/say', JSON.stringify(body), { qos: 1 });
    }
    await expect
      .poll(() => ids.some((id) => obs.answers.get(id)?.[0]?.hub === 'hub_b'), { timeout: 60_000 })
      .toBe(true);
    const b = hubs.get('hub_b') as HubProcess;
    b.signalGroup('SIGKILL');
    await b.exited;
    await vi.waitFor(() => expect(answeredOk(ids), explain(ids)).toBe(true), {
      timeout: 120_000,
      interval: 500,
    });
    await pub.endAsync();
    const a = hubs.get('hub_a') as HubProcess;
    const took = a.logs().filter((l) => l.msg === 'took over the unfinished requests of an offline hub');
    expect(took.map((l) => l.hub)).toEqual(['hub_b']);
    expect([...obs.plays].filter(([k, n]) => k.startsWith('d-') && n > 1)).toEqual([]);
    for (const [i, id] of ids.entries()) expect(obs.plays.get(`${id}|sat/${i % TARGETS}`)).toBeGreaterThan(0);
    process.stdout.write(
      `  dead hub: ${ids.length} ids answered ok; taken over from hub_b's journal: ${String(took[0]?.requests)}\n`,
    );
  }, 200_000);
});
