/**
 * `npm run bench -- scale` (issue 15): what a second hub buys, and what a shared subscription costs.
 * 1. Throughput of N distinct says through 1 hub, then through 2 hubs of one share group, against an engine
 *    stand-in with a fixed time per request (an OpenAI-style server, `POST /v1/audio/speech`, answering a
 *    fixed WAV after ENGINE_MS) and the same per-hub parallel limit; ratio 2 hubs ÷ 1 hub (target ≥ 1.8). The
 *    hubs are the built hub (`node dist/main.js`) as real processes on one mosquitto.
 * 2. A cache hit `tts/say` → `tts/result` through a plain subscription (a hub without a group) against one
 *    through a shared subscription (a hub in a group), same broker, interleaved in one run: p50 and p99 of
 *    each, and the extra latency. The group hub's hit also checks that the cached file still exists (another
 *    hub may have evicted it), which is part of what a group costs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { type HubProcess, startHub } from '../test/helpers/hub-process.js';
import { type RunningMosquitto, startMosquitto } from '../test/helpers/mosquitto.js';
import { BUILT_HUB, buildHub } from './built-hub.js';
import { line, ms, percentile, ratio } from './stats.js';

/** The stand-in engine's time per request, in ms. */
const ENGINE_MS = 1000;
/** Syntheses each hub runs at once (`max_parallel`). */
const PARALLEL = 4;
/** Says per throughput round. */
const SAYS = 64;
/** Cache hits measured per subscription kind. */
const HITS = 300;

/** 0.5 s of 22.05 kHz s16le mono silence as a WAV: what the stand-in answers every time. */
function fixedWav(): Buffer {
  const data = Buffer.alloc(22050);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(22050, 24);
  header.writeUInt32LE(44100, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** The engine stand-in (OpenAI-style, after the API in src/tts/engines/openai.ts): fixed time, fixed audio. */
async function startEngine(): Promise<{ url: string; server: Server }> {
  const wav = fixedWav();
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/audio/speech') {
      req.resume();
      req.on('end', () => {
        setTimeout(() => res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav), ENGINE_MS);
      });
      return;
    }
    if (req.url === '/v1/models') return void res.writeHead(200).end('{"object":"list","data":[]}');
    if (req.url === '/v1/audio/voices') return void res.writeHead(200).end('{"voices":[{"id":"standin"}]}');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server };
}

function options(broker: string, engine: string, clientId: string, extra: Record<string, unknown> = {}) {
  const { mqtt: mqttExtra, ...rest } = extra as { mqtt?: object };
  return {
    mqtt: { url: broker, client_id: clientId, ...mqttExtra },
    engines: [{ name: 'standin', type: 'openai', url: engine, voice: 'standin', max_parallel: PARALLEL }],
    recorder: { enabled: false },
    topics: { discovery: false },
    ...rest,
  };
}

/** Publishes `n` distinct says with ids `<tag>-i` at once; resolves with the ms until every one is answered. */
async function drain(client: MqttClient, answered: Set<string>, tag: string, n: number): Promise<number> {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const t0 = performance.now();
  await Promise.all(
    ids.map((id, i) =>
      client.publishAsync('tts/say', JSON.stringify({ id, text: `${tag} request ${i}` }), { qos: 1 }),
    ),
  );
  while (!ids.every((id) => answered.has(id))) await sleep(20);
  return performance.now() - t0;
}

async function throughput(broker: RunningMosquitto, engine: string): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { clientId: 'bench-scale', protocolVersion: 5 });
  const answered = new Set<string>();
  client.on('message', (_t, p) => answered.add((JSON.parse(p.toString()) as { id: string }).id));
  await client.subscribeAsync('tts/result', { qos: 1 });
  const share = mkdtempSync(join(tmpdir(), 'bench-scale-'));
  const hubs: HubProcess[] = [];
  try {
    const group = { mqtt: { share_group: 'bench' } };
    hubs.push(
      await startHub(options(broker.url, engine, 'scale_a', group), { entry: BUILT_HUB, shareDir: share }),
    );
    const one = await drain(client, answered, 'one', SAYS);
    hubs.push(
      await startHub(options(broker.url, engine, 'scale_b', group), { entry: BUILT_HUB, shareDir: share }),
    );
    await sleep(500);
    const two = await drain(client, answered, 'two', SAYS);
    const ideal = (SAYS * ENGINE_MS) / PARALLEL;
    line(
      `1 hub: ${SAYS} says, engine ${ENGINE_MS} ms, max_parallel ${PARALLEL}`,
      `${ms(one)} (ideal ${ms(ideal)})`,
    );
    line('2 hubs (share group), same says', `${ms(two)} (ideal ${ms(ideal / 2)})`);
    line('throughput 2 hubs ÷ 1 hub', ratio(one / two, 1.8, false));
  } finally {
    await Promise.all(hubs.map((h) => h.stop(10_000)));
    for (const h of hubs) h.cleanup();
    rmSync(share, { recursive: true, force: true });
    await client.endAsync();
  }
}

/** Round trips of a cached say on `say` → `result`, one at a time. */
async function hitOnce(client: MqttClient, say: string, result: string, id: string): Promise<number> {
  const answer = new Promise<void>((r) => {
    const on = (topic: string, p: Buffer) => {
      if (topic !== result || (JSON.parse(p.toString()) as { id: string }).id !== id) return;
      client.off('message', on);
      r();
    };
    client.on('message', on);
  });
  const t0 = performance.now();
  await client.publishAsync(say, JSON.stringify({ id, text: 'The front door is open.' }), { qos: 1 });
  await answer;
  return performance.now() - t0;
}

async function hitLatency(broker: RunningMosquitto, engine: string): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { clientId: 'bench-hits', protocolVersion: 5 });
  // Without it the client's small publishes wait on Nagle + delayed ACK (~40 ms), hiding what is measured.
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  await client.subscribeAsync(['plain/result', 'shared/result'], { qos: 1 });
  const hubs: HubProcess[] = [];
  try {
    const topics = (base: string) => ({
      topics: { say: `${base}/say`, result: `${base}/result`, discovery: false },
    });
    hubs.push(
      await startHub(options(broker.url, engine, 'hits_plain', topics('plain')), { entry: BUILT_HUB }),
    );
    const shared = { ...topics('shared'), mqtt: { share_group: 'hits' } };
    hubs.push(await startHub(options(broker.url, engine, 'hits_shared', shared), { entry: BUILT_HUB }));
    const plain: number[] = [];
    const group: number[] = [];
    for (let i = 0; i < HITS + 20; i++) {
      const p = await hitOnce(client, 'plain/say', 'plain/result', `p-${i}`);
      const s = await hitOnce(client, 'shared/say', 'shared/result', `s-${i}`);
      if (i >= 20) {
        plain.push(p);
        group.push(s); // the first ones synthesize and warm up
      }
    }
    for (const [label, values] of [
      ['plain subscription', plain],
      ['shared subscription', group],
    ] as const) {
      line(`cache hit, ${label}: p50 / p99`, `${ms(percentile(values, 50))} / ${ms(percentile(values, 99))}`);
    }
    const d50 = percentile(group, 50) - percentile(plain, 50);
    const d99 = percentile(group, 99) - percentile(plain, 99);
    line('extra latency of the shared subscription: p50 / p99', `${ms(d50)} / ${ms(d99)}`);
    line('shared ÷ plain, p50', ratio(percentile(group, 50) / percentile(plain, 50)));
  } finally {
    await Promise.all(hubs.map((h) => h.stop(10_000)));
    for (const h of hubs) h.cleanup();
    await client.endAsync();
  }
}

/** Runs both parts (see the module comment). */
export async function benchScale(): Promise<void> {
  process.stdout.write('\nScale (issue 15): two hubs on one broker and one share volume\n');
  buildHub();
  const broker = await startMosquitto();
  const engine = await startEngine();
  try {
    await throughput(broker, engine.url);
    await hitLatency(broker, engine.url);
  } finally {
    engine.server.close();
    await broker.stop();
  }
}
