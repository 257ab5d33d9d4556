/**
 * Request deadlines in a running hub: a request whose deadline passes while it waits for a busy engine is
 * dropped from the queue, never reaches the engine and answers DEADLINE_EXCEEDED (over HTTP with `deadline_s`,
 * and over MQTT 5 with a message expiry interval); a busy engine with a fallback hands the request to the
 * fallback in time; a hung engine and its fallback both fit in the deadline; a target still busy when the
 * deadline passes does not play the request late. Engines are the OpenAI-style stand-in behind a gate that
 * records what reaches it, a never-answering socket, espeak-ng, and a real-time Wyoming speaker.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type InProcessHub, postSay as say, withInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient } from '../helpers/mqtt.js';
import { startFaultServer } from '../servers/fault-servers.js';
import { startWyomingSpeaker } from '../servers/wyoming-speaker.js';

type Json = Record<string, unknown>;

let broker: RunningMosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(() => broker?.stop());

const withHub = (raw: Json, body: (hub: InProcessHub) => Promise<void>) =>
  withInProcessHub(raw, broker.url, body);

async function metric(hub: InProcessHub, line: string): Promise<number> {
  const text = await (await fetch(`${hub.baseUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : Number.NaN;
}

/** Resolves once the gate has seen a synthesis request whose body contains `text`. */
async function reached(gate: { requests: Array<{ body: string }> }, text: string): Promise<void> {
  await expect
    .poll(() => gate.requests.some((r) => r.body.includes(text)), { timeout: 15_000, interval: 20 })
    .toBe(true);
}

describe('a request whose deadline passes in the queue', () => {
  const gated = useGatedOpenAiServer();

  it('is dropped before reaching the engine and answers DEADLINE_EXCEEDED (HTTP deadline_s, MQTT 5 expiry)', async () => {
    const gate = gated();
    gate.delayMs = 3000; // the engine is slow: the first request holds its only slot for 3 s
    const kokoro = { name: 'kokoro', type: 'openai', url: gate.url, voice: 'af_heart', max_parallel: 1 };
    await withHub({ engines: [kokoro] }, async (hub) => {
      const first = say(hub, { text: 'The slow one goes first.' });
      await reached(gate, 'The slow one goes first.');
      const t0 = performance.now();
      const late = await say(hub, { text: 'Too late over HTTP.', deadline_s: 1 });
      const waitedMs = performance.now() - t0;
      expect(late).toMatchObject({ ok: false, error: { code: 'DEADLINE_EXCEEDED' } });
      expect(waitedMs).toBeGreaterThan(900);
      expect(waitedMs).toBeLessThan(2500);

      const client = await connectSayClient(broker.url);
      try {
        const answer = client.next('tts/result', (p) => p.includes('"mqtt-expiry"'), 10_000);
        await client.client.publishAsync(
          'tts/say',
          JSON.stringify({ id: 'mqtt-expiry', text: 'Too late over MQTT.' }),
          { qos: 1, properties: { messageExpiryInterval: 1 } },
        );
        expect(JSON.parse((await answer).toString())).toMatchObject({
          id: 'mqtt-expiry',
          ok: false,
          error: { code: 'DEADLINE_EXCEEDED' },
        });
      } finally {
        await client.close();
      }
      expect(await first).toMatchObject({ ok: true, engine: 'kokoro' });
      await new Promise((r) => setTimeout(r, 500)); // proves a negative: no late request reaches the engine
      const bodies = gate.requests.map((r) => r.body).join('\n');
      expect(bodies).not.toContain('Too late over HTTP.');
      expect(bodies).not.toContain('Too late over MQTT.');
      expect(await metric(hub, 'tts_hub_deadline_exceeded_total{stage="queue"}')).toBe(2);
    });
  }, 60_000);

  it('goes to the fallback engine in time when the first engine stays busy', async () => {
    const gate = gated();
    gate.delayMs = 4000;
    const kokoro = { name: 'kokoro', type: 'openai', url: gate.url, voice: 'af_heart', max_parallel: 1 };
    await withHub({ engines: [kokoro, { name: 'espeak', type: 'espeak' }] }, async (hub) => {
      const first = say(hub, { text: 'The busy engine works on this.' });
      try {
        await reached(gate, 'The busy engine works on this.');
        const t0 = performance.now();
        const next = await say(hub, { text: 'Say this in time, please.', deadline_s: 3 });
        expect(next).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['kokoro'] });
        expect(performance.now() - t0).toBeLessThan(3000);
      } finally {
        // Never stop the hub with the first request half-way (its HTTP connection would hold the close).
        expect(await first).toMatchObject({ ok: true, engine: 'kokoro' });
      }
      expect(gate.requests.map((r) => r.body).join('\n')).not.toContain('Say this in time');
    });
  }, 60_000);
});

describe('a hung engine with a fallback', () => {
  it('leaves the fallback enough of the deadline: both fit in it', async () => {
    const hung = await startFaultServer('hang');
    try {
      const engines = [
        { name: 'stuck', type: 'openai', url: hung.url, timeout_s: 60 },
        { name: 'espeak', type: 'espeak' },
      ];
      await withHub({ engines }, async (hub) => {
        const t0 = performance.now();
        const result = await say(hub, { text: 'The front door is open.', deadline_s: 4 });
        const tookMs = performance.now() - t0;
        expect(result).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['stuck'] });
        expect(tookMs).toBeLessThan(4000);
        expect(tookMs).toBeGreaterThan(2000); // the hung engine had most of the deadline first
      });
    } finally {
      await hung.close();
    }
  }, 60_000);
});

describe('a target still busy when the deadline passes', () => {
  it('does not play the request late; the result says so for that target', async () => {
    const speaker = await startWyomingSpeaker({ realtime: true });
    try {
      const targets = [{ name: 'hall', type: 'wyoming', url: speaker.url }];
      await withHub({ targets }, async (hub) => {
        const long =
          'This is a long announcement for the hall speaker. It keeps the speaker busy for several seconds. ' +
          'Nothing else can play on it until it has finished speaking every word of it.';
        const first = say(hub, { text: long, target: 'hall' });
        await speaker.waitFor((r) => r.event === 'start');
        const late = await say(hub, { text: 'Dinner is ready.', target: 'hall', deadline_s: 1.5 });
        expect(late).toMatchObject({ ok: true, targets: [{ name: 'hall', ok: false }] });
        expect((late.targets as Json[])[0]?.error).toMatch(/^DEADLINE_EXCEEDED/);
        expect(await first).toMatchObject({ ok: true, targets: [{ name: 'hall', ok: true }] });
        await new Promise((r) => setTimeout(r, 500)); // proves a negative: the late one never starts playing
        expect(speaker.reports.filter((r) => r.event === 'start')).toHaveLength(1);
        expect(await metric(hub, 'tts_hub_deadline_exceeded_total{stage="target"}')).toBe(1);
      });
    } finally {
      await speaker.stop();
    }
  }, 60_000);
});
