/**
 * Issue 16's latency targets, with a Wyoming stand-in engine of fixed latency (test/servers/
 * fixed-latency-wyoming.ts; two instances) behind the hub and a loopback mosquitto, so the figures are the
 * hub's: routing overhead (tts/say → tts/result minus the engine's own time, called directly in the same run)
 * P50 / P95 / P99; cache-hit say → result P50 / P95 / P99 next to a plain MQTT round trip; and sustained
 * requests per second, sent at a fixed rate (open loop) with distinct texts (target ≥ 10 req/s with P95 ≤ 300 ms
 * end to end).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { silentLog } from '../src/shared/log.js';
import { createWyomingEngine } from '../src/tts/engines/wyoming.js';
import { startInProcessHub } from '../test/helpers/hub-inprocess.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { startFixedLatencyWyoming } from '../test/servers/fixed-latency-wyoming.js';
import { line, ms, percentile, ratio } from './stats.js';

/** The stand-in's fixed synthesis time and the audio it returns, in ms. */
const ENGINE_MS = 100;
const AUDIO_MS = 1000;
/** Sustained runs: rates tried (req/s) and how long each lasts (s). */
const RATES = [10, 20, 40];
const SUSTAIN_S = 10;

/** An MQTT client that sends say requests and matches results by id. */
async function sayClient(url: string): Promise<{
  say(body: object, topic?: string): Promise<number>;
  /** Failed results by error code since the last call, as text ('' for none). */
  failures(): string;
  close(): Promise<void>;
  client: MqttClient;
}> {
  const failed = new Map<string, number>();
  const client = await mqtt.connectAsync(url, {
    clientId: `bench-routing-${Math.random()}`,
    protocolVersion: 5,
  });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const waiting = new Map<string, () => void>();
  client.on('message', (topic, payload) => {
    if (topic === 'bench/echo') return waiting.get('echo')?.();
    const { id, ok, error } = JSON.parse(payload.toString()) as {
      id: string;
      ok: boolean;
      error?: { code: string };
    };
    if (!ok) failed.set(error?.code ?? '?', (failed.get(error?.code ?? '?') ?? 0) + 1);
    waiting.get(id)?.();
  });
  await client.subscribeAsync(['tts/result', 'bench/echo'], { qos: 1 });
  let n = 0;
  return {
    client,
    async say(body, topic = 'tts/say') {
      const id = topic === 'bench/echo' ? 'echo' : `r${n++}`;
      const t0 = performance.now();
      const done = new Promise<void>((resolve) => waiting.set(id, resolve));
      await client.publishAsync(topic, JSON.stringify({ ...body, id }), { qos: 1 });
      await done;
      waiting.delete(id);
      return performance.now() - t0;
    },
    failures() {
      const text = [...failed].map(([code, n]) => `${n} ${code}`).join(', ');
      failed.clear();
      return text;
    },
    close: () => client.endAsync(),
  };
}

/**
 * CPU time in ms used so far by this process and its waited-for children (ffmpeg): process.cpuUsage() plus
 * cutime + cstime of /proc/self/stat (clock ticks, 100 per second on Linux); children are 0 elsewhere.
 */
function cpuMs(): number {
  const own = process.cpuUsage();
  let children = 0;
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    children = (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    // not Linux
  }
  return (own.user + own.system) / 1000 + children;
}

const p = (values: number[]): string =>
  `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))} / ${ms(percentile(values, 99))}`;

/** Sends distinct requests at `rate` per second for SUSTAIN_S; resolves with latencies and achieved rate. */
async function sustained(
  say: (body: object) => Promise<number>,
  rate: number,
  tag: string,
): Promise<{ latencies: number[]; achieved: number }> {
  const total = rate * SUSTAIN_S;
  const t0 = performance.now();
  const runs: Array<Promise<number>> = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    runs.push(say({ text: `Sustained ${tag} request number ${i}.` }));
  }
  const latencies = await Promise.all(runs);
  return { latencies, achieved: total / ((performance.now() - t0) / 1000) };
}

/** Runs the routing figures and prints them. */
export async function benchRouting(): Promise<void> {
  const broker = await startMosquitto();
  const standIns = await Promise.all(
    [0, 1].map(() => startFixedLatencyWyoming({ latencyMs: ENGINE_MS, audioMs: AUDIO_MS })),
  );
  const hub = await startInProcessHub(
    {
      engines: [
        { name: 'fixed', type: 'wyoming', urls: standIns.map((s) => s.url), max_parallel: 4, timeout_s: 30 },
      ],
      cache: { max_entries: 10_000 },
    },
    broker.url,
  );
  const client = await sayClient(broker.url);
  const engine = createWyomingEngine({
    name: 'direct',
    type: 'wyoming',
    url: standIns[0]?.url as string,
    log: silentLog(),
  });
  try {
    process.stdout.write(
      `\nRouting (issue 16): Wyoming stand-in of fixed latency (${ENGINE_MS} ms, ${AUDIO_MS} ms of audio), 2 instances × max_parallel 4, loopback mosquitto\n`,
    );
    const direct: number[] = [];
    const routed: number[] = [];
    let cpu0 = 0;
    for (let i = 0; i < 120; i++) {
      if (i === 20) cpu0 = cpuMs();
      const t0 = performance.now();
      for await (const _ of engine.synthesize({ text: `Direct ${i}.` }, AbortSignal.timeout(10_000))) {
        // drain
      }
      const d = performance.now() - t0;
      const r = await client.say({ text: `Routed request number ${i}.` });
      if (i < 20) continue; // warm-up
      direct.push(d);
      routed.push(r);
    }
    const cpuPerRequest = (cpuMs() - cpu0) / routed.length;
    const base = percentile(direct, 50);
    line('engine called directly p50', ms(base));
    line('tts/say → tts/result (miss) P50 / P95 / P99', p(routed));
    line('routing overhead (result − engine p50) P50 / P95 / P99', p(routed.map((r) => r - base)));
    line('routed p50 ÷ engine direct p50', ratio(percentile(routed, 50) / base));
    line(
      'CPU per routed miss (hub + ffmpeg + stand-in), ms',
      `${cpuPerRequest.toFixed(1)} ms → at most ${(2000 / cpuPerRequest).toFixed(0)} req/s on 2 idle cores`,
    );

    await client.say({ text: 'The cache answers this.' });
    const plain: number[] = [];
    const hits: number[] = [];
    for (let i = 0; i < 300; i++) {
      plain.push(await client.say({ n: i }, 'bench/echo'));
      hits.push(await client.say({ text: 'The cache answers this.' }));
    }
    line('plain MQTT QoS 1 round trip P50 / P95 / P99', p(plain));
    line('cache hit say → result P50 / P95 / P99', p(hits));
    line('cache hit p50 ÷ plain round trip p50', ratio(percentile(hits, 50) / percentile(plain, 50)));

    let best = 0;
    line('engine capacity (2 instances × 4 ÷ engine time)', `${((8 * 1000) / ENGINE_MS).toFixed(0)} req/s`);
    client.failures();
    for (const rate of RATES) {
      const { latencies, achieved } = await sustained((b) => client.say(b), rate, `r${rate}`);
      const p95 = percentile(latencies, 95);
      const failures = client.failures();
      const met = achieved >= rate * 0.95 && p95 <= 300 && !failures;
      if (met) best = rate;
      line(
        `sustained ${rate} req/s for ${SUSTAIN_S} s: achieved, P50 / P95`,
        `${achieved.toFixed(1)} req/s, ${ms(percentile(latencies, 50))} / ${ms(p95)}${met ? '  ✓' : '  ✗ (P95 ≤ 300 ms)'}${failures ? `; failed: ${failures}` : ''}`,
      );
      if (!met) break; // a higher rate would only queue deeper
    }
    line('highest rate with P95 ≤ 300 ms (target ≥ 10 req/s)', `${best} req/s${best >= 10 ? '  ✓' : '  ✗'}`);
  } finally {
    await client.close();
    await hub.close();
    await Promise.all(standIns.map((s) => s.close()));
    await broker.stop();
  }
}
