/**
 * `/metrics` of a hub whose engine has two instances (OpenAI-style stand-ins, one behind a gate that can reset
 * every connection like a crashed server): per-instance breaker state, health and active requests, the engine's
 * queue, the synthesis latency and RTF histograms, and prom-client's process metrics. When one instance fails,
 * its requests are spoken by the other (no fallback) and its breaker shows open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { type EngineGate, startEngineGate } from '../servers/engine-gate.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import type { StandIn } from '../servers/speech.js';

type Json = Record<string, unknown>;

let servers: StandIn[];
let gate: EngineGate;
let fx: HubFixture;

beforeAll(async () => {
  servers = await Promise.all([startOpenAiSpeechServer(), startOpenAiSpeechServer()]);
  gate = await startEngineGate(servers[1]!.url);
  fx = await startHubFixture({
    engines: [
      {
        name: 'kokoro',
        type: 'openai',
        urls: [servers[0]!.url, gate.url],
        voice: 'af_heart',
        breaker_failures: 2,
        breaker_reset_s: 600,
      },
      { name: 'espeak', type: 'espeak' },
    ],
  });
}, 60_000);

afterAll(async () => {
  await fx?.close();
  await gate?.close();
  await Promise.all((servers ?? []).map((s) => s.close()));
});

async function say(text: string): Promise<Json> {
  const res = await fetch(`${fx.url}/api/say`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return (await res.json()) as Json;
}

/** The value of the sample line that starts with `series` (name and labels), or NaN. */
async function sample(series: string): Promise<number> {
  const text = await (await fetch(`${fx.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

describe('metrics of an engine pool', () => {
  it('shows each instance, the engine histograms and the process metrics', async () => {
    for (let i = 0; i < 4; i++)
      expect(await say(`Metrics sentence number ${i}.`)).toMatchObject({ ok: true });
    for (const endpoint of [servers[0]!.url, gate.url]) {
      const labels = `{engine="kokoro",endpoint="${endpoint}"}`;
      expect(await sample(`tts_hub_engine_breaker_state${labels}`)).toBe(0);
      expect(await sample(`tts_hub_engine_instance_healthy${labels}`)).toBe(1);
      expect(await sample(`tts_hub_engine_active${labels}`)).toBe(0);
    }
    expect(await sample('tts_hub_engine_queued{engine="kokoro"}')).toBe(0);
    expect(await sample('tts_hub_engine_synthesis_seconds_count{engine="kokoro"}')).toBe(4);
    expect(await sample('tts_hub_engine_rtf_count{engine="kokoro"}')).toBe(4);
    expect(await sample('tts_hub_engine_rtf_sum{engine="kokoro"}')).toBeGreaterThan(0);
    expect(await sample('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(await sample('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(await sample('tts_hub_deadline_exceeded_total{stage="queue"}')).toBe(0);
  });

  it('speaks on the healthy instance when the other fails, and shows the failed one open', async () => {
    gate.mode = 'reset';
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await say(`While one instance is down, number ${i}.`));
    expect(results.every((r) => r.ok === true && r.engine === 'kokoro' && !r.fallback_from)).toBe(true);
    expect(results.every((r) => r.instance === servers[0]!.url)).toBe(true);
    expect(await sample(`tts_hub_engine_breaker_state{engine="kokoro",endpoint="${gate.url}"}`)).toBe(2);
    expect(await sample(`tts_hub_engine_instance_healthy{engine="kokoro",endpoint="${gate.url}"}`)).toBe(0);
    expect(await sample('tts_hub_engine_healthy{engine="kokoro"}')).toBe(1);
    const { engines } = (await (await fetch(`${fx.url}/api/engines`)).json()) as { engines: Json[] };
    expect(engines.find((e) => e.name === 'kokoro')).toMatchObject({ healthy: true, breaker: 'closed' });
  });
});
