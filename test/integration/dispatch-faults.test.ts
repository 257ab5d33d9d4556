/**
 * The dispatcher in a running hub, seen from outside: broken engines (refusing, hanging, dying mid-stream,
 * answering garbage) fall back or fail clearly and never leave a cache entry; the breaker stops calling a
 * failing engine and lets it back once it answers; `priority: "high"` overtakes queued requests; per-request
 * engine/voice/speaker/language and per-engine defaults reach the engine. Engines are the API-faithful
 * stand-ins of test/servers/, some behind a gate that counts and records what reaches them.
 */
import { mkdirSync, readdirSync, watch } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { type InProcessHub, postSay as say, withInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient } from '../helpers/mqtt.js';
import { COQUI_SPEAKERS, startCoquiTtsServer } from '../servers/coqui-tts-server.js';
import { type EngineGate, startEngineGate } from '../servers/engine-gate.js';
import { type FaultMode, type FaultServer, startFaultServer } from '../servers/fault-servers.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import type { StandIn } from '../servers/speech.js';
import { startXttsApiServer } from '../servers/xtts-api-server.js';

type Json = Record<string, unknown>;

let broker: RunningMosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(() => broker?.stop());

/** Runs `body` against a hub with `engines`, then stops the hub and removes its share dir. */
const withHub = (engines: Json[], body: (hub: InProcessHub) => Promise<void>) =>
  withInProcessHub({ engines }, broker.url, body);

/** GET /api/engines, the row of `name`. */
async function engineRow(hub: InProcessHub, name: string): Promise<Json> {
  const { engines } = (await (await fetch(`${hub.baseUrl}/api/engines`)).json()) as { engines: Json[] };
  return engines.find((e) => e.name === name) as Json;
}

/** Every file under the share dir's cache folder (names only). */
function cacheFiles(hub: InProcessHub): string[] {
  const root = join(hub.shareDir, 'cache');
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

const ESPEAK = { name: 'espeak', type: 'espeak' };
const LONG_TEXT =
  'The washing machine has finished its cycle. Please empty it soon, because the towels will smell. ' +
  'The dryer is free now, and the weather outside is good enough to hang the sheets on the line.';
/** Listing answers so the openai engine gets as far as its synthesis request before the fault. */
const LISTINGS = { '/v1/audio/voices': { voices: ['af_heart'] }, '/v1/models': { data: [] } };

describe.each([
  ['refuses connections', 'refuse'],
  ['hangs', 'hang'],
  ['dies mid-stream', 'die_mid_stream'],
] as Array<[string, FaultMode]>)('an engine that %s', (_label, mode) => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer(mode, LISTINGS);
  });
  afterAll(() => server?.close());

  it('falls back to the next engine and caches only the fallback audio', async () => {
    const engines = [{ name: 'kokoro', type: 'openai', url: server.url, timeout_s: 1 }, ESPEAK];
    await withHub(engines, async (hub) => {
      const result = await say(hub, { text: `The ${mode} engine was skipped.`, id: mode });
      expect(result).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['kokoro'] });
      // One entry: the espeak audio and its sidecar; nothing half-written by the failed engine.
      const key = hub.hub.cacheKeyOfUrl(String(result.url));
      expect(cacheFiles(hub).sort()).toEqual([`${key}.opus`, `${key}.opus.json`]);
      const row = await engineRow(hub, 'kokoro');
      expect(row).toMatchObject({ healthy: false, breaker: 'closed' });
      expect(row.error).toBeTruthy();
    });
  });
});

describe('an engine cut off after a good part of its audio', () => {
  const gated = useGatedOpenAiServer((g) => {
    g.cutAfterBytes = 150_000; // about 3 s of 24 kHz speech: the encoder has written pages by then
  });

  it('leaves no half-written cache entry: the partial file is deleted, only the fallback is cached', async () => {
    const gate = gated();
    const kokoro = { name: 'kokoro', type: 'openai', url: gate.url, voice: 'af_heart' };
    await withHub([kokoro, ESPEAK], async (hub) => {
      const dir = join(hub.shareDir, 'cache');
      mkdirSync(dir, { recursive: true });
      const written = new Set<string>();
      const watcher = watch(dir, { recursive: true }, (_event, file) => {
        if (file) written.add(basename(file));
      });
      try {
        const text = LONG_TEXT;
        const result = await say(hub, { text });
        expect(result).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['kokoro'] });
        const key = hub.hub.cacheKeyOfUrl(String(result.url));
        // Only the fallback's entry is left: nothing of the failed engine's audio was committed, and whatever of
        // it reached the disk was a temp file that is gone. (The cache writer holds pages in memory for up to
        // FLUSH_AFTER_MS or FLUSH_BYTES, so a say that fails this early may never write its temp file at all;
        // cache-store.test.ts checks that a flushed temp file is deleted on abort.)
        expect(cacheFiles(hub).sort()).toEqual([`${key}.opus`, `${key}.opus.json`]);
        for (const f of written) if (!f.startsWith(`${key}.`) && f.length > 2) expect(f).toMatch(/\.tmp$/);
      } finally {
        watcher.close();
      }
    });
  });
});

describe('an engine that answers garbage', () => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer('garbage');
  });
  afterAll(() => server?.close());

  it('gives a clear error naming the engine when it is the only engine, and caches nothing', async () => {
    await withHub([{ name: 'kokoro', type: 'openai', url: server.url, voice: 'af_heart' }], async (hub) => {
      const result = await say(hub, { text: 'Is anybody there?', id: 'g1' });
      expect(result).toMatchObject({ id: 'g1', ok: false, error: { code: 'ENGINE_BAD_RESPONSE' } });
      expect((result.error as Json).message).toContain("'kokoro'");
      expect(cacheFiles(hub)).toEqual([]);
    });
  });
});

describe('the circuit breaker', () => {
  const gated = useGatedOpenAiServer();

  it('stops calling a failing engine, then closes once the engine answers again', async () => {
    const gate = gated();
    gate.mode = 'reset';
    const kokoro = { name: 'kokoro', type: 'openai', url: gate.url, voice: 'af_heart', breaker_failures: 2 };
    await withHub([{ ...kokoro, breaker_reset_s: 3 }, ESPEAK], async (hub) => {
      const watcher = await connectSayClient(broker.url, { extraTopics: ['tts/status'] });
      try {
        const kokoroOnStatus = (breaker: string) =>
          watcher.next('tts/status', (p) => {
            const { engines } = JSON.parse(p.toString()) as { engines: Json[] };
            return engines.some((e) => e.name === 'kokoro' && e.breaker === breaker);
          });
        // Awaited below; the catch only keeps a failure earlier in the test from leaving an unhandled rejection.
        const expectStatus = (breaker: string) => {
          const seen = kokoroOnStatus(breaker);
          seen.catch(() => {});
          return seen;
        };
        const opened = expectStatus('open');
        for (const n of [1, 2]) {
          const r = await say(hub, { text: `Failure number ${n}.` });
          expect(r).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['kokoro'] });
        }
        expect(await engineRow(hub, 'kokoro')).toMatchObject({ breaker: 'open', healthy: false });
        await opened; // tts/status shows it too
        const calls = gate.connections;
        const skipped = await say(hub, { text: 'The breaker is open.' });
        expect(skipped).toMatchObject({ ok: true, engine: 'espeak', fallback_from: ['kokoro'] });
        expect(gate.connections).toBe(calls); // not even tried

        const closed = expectStatus('closed');
        gate.mode = 'pass';
        await expect
          .poll(async () => (await engineRow(hub, 'kokoro')).breaker, { timeout: 15_000 })
          .toBe('closed');
        expect(await engineRow(hub, 'kokoro')).toMatchObject({ healthy: true });
        const back = await say(hub, { text: 'Kokoro is back.' });
        expect(back).toMatchObject({ ok: true, engine: 'kokoro' });
        expect(back.fallback_from).toBeUndefined();
        await closed;
      } finally {
        await watcher.close();
      }
    });
  });
});

describe('priority', () => {
  const gated = useGatedOpenAiServer();

  it('serves a high request queued after normal ones before them', async () => {
    const gate = gated();
    const slow = { name: 'slow', type: 'openai', url: gate.url, voice: 'af_heart', max_parallel: 1 };
    await withHub([slow], async (hub) => {
      const client = await connectSayClient(broker.url);
      try {
        gate.delayMs = 400;
        const order: string[] = [];
        const send = (id: string, priority: string) =>
          client
            .say(JSON.stringify({ id, text: `Request ${id} in line.`, priority }), id)
            .then((r) => order.push(`${r.id}:${r.ok}`));
        const normals = ['n1', 'n2', 'n3', 'n4'].map((id) => send(id, 'normal'));
        await expect.poll(async () => (await engineRow(hub, 'slow')).queued, { timeout: 15_000 }).toBe(3);
        const high = send('h', 'high');
        await Promise.all([...normals, high]);
        expect(order).toEqual(['n1:true', 'h:true', 'n2:true', 'n3:true', 'n4:true']);
        const inputs = gate.requests
          .filter((r) => r.url === '/v1/audio/speech')
          .map((r) => (JSON.parse(r.body) as Json).input);
        expect(inputs).toEqual(['n1', 'h', 'n2', 'n3', 'n4'].map((id) => `Request ${id} in line.`));
      } finally {
        await client.close();
      }
    });
  });
});

describe('per-request engine, voice, speaker and language', () => {
  const ups: StandIn[] = [];
  const gates: Record<'openai' | 'coqui' | 'xtts', EngineGate> = {} as never;
  beforeAll(async () => {
    const starts = { openai: startOpenAiSpeechServer, coqui: startCoquiTtsServer, xtts: startXttsApiServer };
    for (const [kind, start] of Object.entries(starts) as Array<
      [keyof typeof gates, () => Promise<StandIn>]
    >) {
      const up = await start();
      ups.push(up);
      gates[kind] = await startEngineGate(up.url);
    }
  });
  afterAll(async () => {
    for (const g of Object.values(gates)) await g.close();
    for (const up of ups) await up.close();
  });

  const engines = () => [
    {
      name: 'kokoro',
      type: 'openai',
      url: gates.openai.url,
      voice: 'af_heart',
      model: 'kokoro',
      speed: 1.25,
    },
    {
      name: 'coqui',
      type: 'xtts',
      transport: 'coqui',
      url: gates.coqui.url,
      speaker: 'Claribel Dervla',
      language: 'en',
    },
    {
      name: 'xtts',
      type: 'xtts',
      transport: 'xtts_stream',
      url: gates.xtts.url,
      voice: 'female_calm',
      language: 'de',
    },
  ];
  /** The last synthesis request that reached `gate` (listing requests left out). */
  const lastSynthesis = (gate: EngineGate) =>
    [...gate.requests].reverse().find((r) => /\/(v1\/audio\/speech|api\/tts|tts_stream)/.test(r.url));
  const query = (gate: EngineGate) => new URL(lastSynthesis(gate)?.url ?? '/', 'http://x').searchParams;

  it("lists each engine's voices on GET /api/voices, one engine with ?engine=", async () => {
    await withHub(engines(), async (hub) => {
      const all = (await (await fetch(`${hub.baseUrl}/api/voices`)).json()) as { engines: Json[] };
      const names = (e: Json) => (e.voices as Json[]).map((v) => v.name);
      expect(all.engines.map((e) => e.name)).toEqual(['kokoro', 'coqui', 'xtts']);
      expect(names(all.engines[0] as Json)).toEqual(expect.arrayContaining(['af_heart', 'bf_emma']));
      expect(names(all.engines[1] as Json)).toEqual(expect.arrayContaining(Object.keys(COQUI_SPEAKERS)));
      const one = await fetch(`${hub.baseUrl}/api/voices?engine=xtts`);
      expect(await one.json()).toEqual({
        engines: [
          { name: 'xtts', voices: expect.arrayContaining([expect.objectContaining({ name: 'male_deep' })]) },
        ],
      });
      const unknown = await fetch(`${hub.baseUrl}/api/voices?engine=nope`);
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { error: Json }).error).toMatchObject({ code: 'ENGINE_NOT_FOUND' });
    });
  });

  it('refuses a voice its engine does not list with VOICE_NOT_FOUND naming known ones, before any synthesis', async () => {
    await withHub(engines(), async (hub) => {
      const syntheses = () => gates.openai.requests.filter((r) => r.url === '/v1/audio/speech').length;
      const before = syntheses();
      const r = await say(hub, { text: 'Nobody speaks.', voice: 'xx_nobody' });
      expect(r).toMatchObject({ ok: false, error: { code: 'VOICE_NOT_FOUND' } });
      expect((r.error as Json).message).toMatch(/'xx_nobody'.*'kokoro'.*known voices:.*af_heart/);
      expect(syntheses()).toBe(before);
    });
  });

  it('uses the default engine with its configured voice, model and speed', async () => {
    await withHub(engines(), async (hub) => {
      expect(await say(hub, { text: 'Defaults first.' })).toMatchObject({
        ok: true,
        engine: 'kokoro',
        voice: 'af_heart',
      });
      expect(JSON.parse(lastSynthesis(gates.openai)?.body ?? '{}')).toMatchObject({
        model: 'kokoro',
        input: 'Defaults first.',
        voice: 'af_heart',
        speed: 1.25,
      });
      expect(await say(hub, { text: 'Another voice.', voice: 'bf_emma' })).toMatchObject({
        ok: true,
        voice: 'bf_emma',
      });
      expect(JSON.parse(lastSynthesis(gates.openai)?.body ?? '{}')).toMatchObject({ voice: 'bf_emma' });
    });
  });

  it('sends speaker and language to the requested engine, defaults where the request has none', async () => {
    await withHub(engines(), async (hub) => {
      expect(await say(hub, { text: 'Coqui defaults.', engine: 'coqui' })).toMatchObject({
        ok: true,
        engine: 'coqui',
      });
      expect(Object.fromEntries(query(gates.coqui))).toMatchObject({
        speaker_id: 'Claribel Dervla',
        language_id: 'en',
      });
      const other = Object.keys(COQUI_SPEAKERS).find((s) => s !== 'Claribel Dervla') as string;
      const r = await say(hub, { text: 'Coqui asked.', engine: 'coqui', speaker: other, language: 'de' });
      expect(r).toMatchObject({ ok: true, engine: 'coqui' });
      expect(Object.fromEntries(query(gates.coqui))).toMatchObject({ speaker_id: other, language_id: 'de' });

      expect(await say(hub, { text: 'Xtts defaults.', engine: 'xtts' })).toMatchObject({
        ok: true,
        engine: 'xtts',
      });
      expect(Object.fromEntries(query(gates.xtts))).toMatchObject({
        speaker_wav: 'female_calm',
        language: 'de',
      });
      const x = await say(hub, { text: 'Xtts asked.', engine: 'xtts', voice: 'male_deep', language: 'fr' });
      expect(x).toMatchObject({ ok: true, engine: 'xtts', voice: 'male_deep' });
      expect(Object.fromEntries(query(gates.xtts))).toMatchObject({
        speaker_wav: 'male_deep',
        language: 'fr',
      });
    });
  });
});
