/**
 * Warm Wyoming connections against the real wyoming-piper (behind a counting TCP proxy): sentences spoken one
 * after another reuse one connection; a connection the service closed while idle is replaced without a failed
 * request; an aborted request's connection is not reused; and HTTP engines keep their connection alive too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { createWyomingEngine } from '../../src/tts/engines/wyoming.js';
import { useGatedOpenAiServer } from '../helpers/gated-openai.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper } from '../helpers/piper.js';
import { type CutProxy, startCutProxy } from '../helpers/wyoming-cut-proxy.js';

async function speak(
  engine: ReturnType<typeof createWyomingEngine>,
  text: string,
  signal = AbortSignal.timeout(30_000),
) {
  let bytes = 0;
  for await (const chunk of engine.synthesize({ text }, signal)) bytes += chunk.pcm.length;
  return bytes;
}

describe('warm Wyoming connections (real wyoming-piper)', () => {
  let piper: RunningPiper;
  let proxy: CutProxy;

  beforeAll(async () => {
    piper = await startWyomingPiper();
    proxy = await startCutProxy(piper.url, 1_000_000);
  });
  afterAll(async () => {
    await proxy?.stop();
    await piper?.stop();
  });

  it('speaks several sentences one after another on one connection', async () => {
    const engine = createWyomingEngine({
      name: 'piper',
      type: 'piper',
      url: proxy.url,
      voice: PIPER_VOICE,
      log: silentLog(),
    });
    const before = proxy.connections;
    for (const text of ['The door is open.', 'The light is on.', 'The oven is hot.']) {
      expect(await speak(engine, text)).toBeGreaterThan(22050);
    }
    expect(proxy.connections - before).toBe(1);
  });

  it('replaces a connection the service closed while idle, without failing the request', async () => {
    const engine = createWyomingEngine({
      name: 'piper',
      type: 'piper',
      url: proxy.url,
      voice: PIPER_VOICE,
      log: silentLog(),
    });
    expect(await speak(engine, 'First sentence.')).toBeGreaterThan(0);
    const before = proxy.connections;
    proxy.dropAll(); // the idle connection is closed from the service's side, as a restarted wyoming-piper would
    // Lets the close reach the engine's idle socket; the engine's pool has no event or state to wait on.
    await new Promise((r) => setTimeout(r, 100));
    expect(await speak(engine, 'Second sentence after the service went away.')).toBeGreaterThan(0);
    expect(proxy.connections - before).toBe(1);
  });

  it('does not reuse the connection of an aborted request', async () => {
    const engine = createWyomingEngine({
      name: 'piper',
      type: 'piper',
      url: proxy.url,
      voice: PIPER_VOICE,
      log: silentLog(),
    });
    const ac = new AbortController();
    await expect(
      (async () => {
        for await (const _ of engine.synthesize(
          { text: 'A long sentence that is cut off right after its first audio arrives.' },
          ac.signal,
        )) {
          ac.abort(new Error('listener left'));
        }
      })(),
    ).rejects.toThrow('listener left');
    const before = proxy.connections;
    expect(await speak(engine, 'Next one.')).toBeGreaterThan(0);
    expect(proxy.connections - before).toBe(1);
  });
});

describe('warm HTTP connections (OpenAI-style stand-in behind a counting gate)', () => {
  const gate = useGatedOpenAiServer();

  it('keeps one connection alive across requests (fetch keep-alive)', async () => {
    const options = EngineOptionsSchema.parse({
      name: 'oai',
      type: 'openai',
      url: `${gate().url}/v1`,
      voice: 'af_heart',
      model: 'kokoro',
    });
    const engine = createEngine(options, { log: silentLog() });
    const speakOne = async (text: string) => {
      let bytes = 0;
      for await (const chunk of engine.synthesize({ text }, AbortSignal.timeout(10_000)))
        bytes += chunk.pcm.length;
      expect(bytes).toBeGreaterThan(0);
    };
    const before = gate().connections;
    const requests = gate().requests.length;
    for (const text of ['One.', 'Two.', 'Three.', 'Four.', 'Five.', 'Six.']) await speakOne(text);
    expect(gate().requests.length - requests).toBe(6);
    // Without keep-alive every request opens a connection; undici reuses an idle one (a request that starts
    // while the last response's end is still in flight may open a second).
    expect(gate().connections - before).toBeLessThanOrEqual(3);
  });
});
