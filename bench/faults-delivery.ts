/**
 * Delivery under faults (issue 10, DESIGN "Quality bars: Faults" and "Delivery and limits"), the built hub
 * (`node dist/main.js`, as the image runs it) against a real mosquitto with its default limits, espeak-ng:
 * 1. SIGKILL of the hub's process group with 100 distinct says queued, then a restart: how many are answered
 *    (target 100), and the drain time after the restart ÷ the same 100 says on a hub left alone (baseline,
 *    same run).
 * 2. A 1,000-say burst (distinct texts, QoS 1, published as fast as one client can): how many are answered
 *    (target 1,000), peak RSS of the hub's node process through it (target ≤ 250 MB; children not counted) and
 *    ÷ its idle RSS, throughput in says/s.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { type HubProcess, startHub } from '../test/helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../test/helpers/mosquitto.js';
import { BUILT_HUB, buildHub } from './built-hub.js';
import { line, ratio } from './stats.js';

/** mosquitto's defaults (mosquitto.conf(5)); the bench's broker sets none of them. */
const BROKER_LIMITS =
  'mosquitto defaults: max_inflight_messages 20, max_queued_messages 1000, max_queued_bytes 0';

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Collects the ids answered on tts/result (ok or not). */
async function resultWatcher(url: string) {
  const client = await mqtt.connectAsync(url, { clientId: `bench-watch-${process.pid}`, protocolVersion: 4 });
  const answered = new Map<string, boolean>();
  client.on('message', (_t, payload) => {
    const r = JSON.parse(payload.toString()) as { id: string; ok: boolean };
    answered.set(r.id, (answered.get(r.id) ?? true) && r.ok);
  });
  await client.subscribeAsync('tts/result', { qos: 1 });
  return { client, answered };
}

async function publishSays(url: string, ids: string[], text: (i: number) => string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}`, protocolVersion: 4 });
  for (const [i, id] of ids.entries()) {
    await client.publishAsync('tts/say', JSON.stringify({ id, text: text(i) }), { qos: 1 });
  }
  await client.endAsync();
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const hubOptions = (url: string, clientId: string) => ({
  mqtt: { url, client_id: clientId },
  engines: [{ name: 'espeak', type: 'espeak', max_parallel: 2 }],
});

async function sigkillRound(broker: RunningMosquitto): Promise<void> {
  const n = 100;
  const text = (tag: string) => (i: number) =>
    `${tag} announcement ${i}: the parcel for flat ${i * 7} has arrived.`;
  const watch = await resultWatcher(broker.url);
  const hubs: HubProcess[] = [];
  try {
    // Baseline: the same number of says on a hub nobody kills.
    const calm = await startHub(hubOptions(broker.url, 'bench-calm'), { entry: BUILT_HUB });
    hubs.push(calm);
    const calmIds = Array.from({ length: n }, (_, i) => `calm-${i}`);
    const t0 = performance.now();
    await publishSays(broker.url, calmIds, text('Calm'));
    await until(() => calmIds.every((id) => watch.answered.has(id)), 180_000);
    const calmMs = performance.now() - t0;
    await calm.stop();

    const first = await startHub(hubOptions(broker.url, 'bench-kill'), { entry: BUILT_HUB });
    hubs.push(first);
    const ids = Array.from({ length: n }, (_, i) => `kill-${i}`);
    await publishSays(broker.url, ids, text('Killed'));
    await until(() => ids.filter((id) => watch.answered.has(id)).length >= 5, 60_000);
    first.signalGroup('SIGKILL');
    await first.exited;
    const before = ids.filter((id) => watch.answered.has(id)).length;
    const t1 = performance.now();
    const second = await startHub(hubOptions(broker.url, 'bench-kill'), {
      entry: BUILT_HUB,
      shareDir: first.shareDir,
    });
    hubs.push(second);
    await until(() => ids.every((id) => watch.answered.has(id)), 180_000);
    const drainMs = performance.now() - t1;
    const answered = ids.filter((id) => watch.answered.has(id)).length;
    const ok = ids.filter((id) => watch.answered.get(id) === true).length;
    process.stdout.write(
      `\nFaults, delivery (issue 10): SIGKILL of the hub's process group with ${n} says queued\n`,
    );
    line('answered before the kill', `${before} / ${n}`);
    line(
      `answered after the restart (target ${n})`,
      `${answered} / ${n}, ${ok} ok${answered === n ? '  ✓' : '  ✗'}`,
    );
    line(
      'time to answer all after restart ÷ the same says on a hub left alone',
      `${ratio(drainMs / calmMs)} (${(drainMs / 1000).toFixed(1)} s vs ${(calmMs / 1000).toFixed(1)} s, restart included)`,
    );
  } finally {
    for (const h of hubs) {
      await h.stop();
      h.cleanup();
    }
    await watch.client.endAsync();
  }
}

async function burstRound(broker: RunningMosquitto): Promise<void> {
  const n = 1000;
  const watch = await resultWatcher(broker.url);
  const hub = await startHub(hubOptions(broker.url, 'bench-burst'), { entry: BUILT_HUB });
  const pid = hub.child.pid as number;
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMb(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      const now = rssMb(pid);
      if (now > peak) peak = now;
    }, 20);
    const ids = Array.from({ length: n }, (_, i) => `burst-${i}`);
    const t0 = performance.now();
    await publishSays(broker.url, ids, (i) => `Burst message ${i}.`);
    const publishedMs = performance.now() - t0;
    await until(() => ids.every((id) => watch.answered.has(id)), 600_000);
    const totalMs = performance.now() - t0;
    clearInterval(sampler);
    const answered = ids.filter((id) => watch.answered.has(id)).length;
    const ok = ids.filter((id) => watch.answered.get(id) === true).length;
    process.stdout.write(
      `\nFaults, delivery: a ${n}-say burst (${BROKER_LIMITS}; hub receive_maximum 32, max_in_flight 16)\n`,
    );
    line(`answered (target ${n})`, `${answered} / ${n}, ${ok} ok${answered === n ? '  ✓' : '  ✗'}`);
    line(
      'published in',
      `${(publishedMs / 1000).toFixed(1)} s; all answered in ${(totalMs / 1000).toFixed(1)} s (${(n / (totalMs / 1000)).toFixed(1)} says/s)`,
    );
    line(
      'RSS peak through the burst (target ≤ 250 MB)',
      `${peak.toFixed(1)} MB${peak <= 250 ? '  ✓' : '  ✗'}; ÷ idle ${idle.toFixed(1)} MB: ${ratio(peak / idle)}`,
    );
  } finally {
    await hub.stop();
    hub.cleanup();
    await watch.client.endAsync();
  }
}

/** Runs both rounds and prints their lines. */
export async function benchFaultsDelivery(): Promise<void> {
  buildHub();
  const broker = await startMosquitto();
  try {
    await sigkillRound(broker);
    await burstRound(broker);
  } finally {
    await broker.stop();
  }
}
