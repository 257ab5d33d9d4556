import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import type { Engine } from '../../src/tts/engine.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { createOpenAiEngine } from '../../src/tts/engines/openai.js';
import { collect, failure, probeCollected, rms } from '../servers/collect.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import { startPocketTtsServer } from '../servers/pocket-tts-server.js';
import type { StandIn } from '../servers/speech.js';

const log = silentLog();
const SENTENCE = 'The washing machine has finished.';
const LONG = 'The laundry is done. The dishwasher is running. Dinner is at seven. Please close the windows.';
const FORMAT_24K = { rateHz: 24000, widthBytes: 2, channels: 1 };
const POCKET_CLI = fileURLToPath(new URL('../servers/pocket-tts', import.meta.url));

function engine(o: Record<string, unknown>): Engine {
  return createEngine(EngineOptionsSchema.parse({ name: 'e', ...o }), { log });
}

/** The last `ms` of the PCM is silent (pocket-tts ends with 0.2 s of zeros). */
function endsInSilence(pcm: Buffer, ms: number): boolean {
  const tail = pcm.subarray(pcm.length - Math.round((24000 * ms) / 1000) * 2);
  return tail.every((b) => b === 0);
}

describe('OpenAI-style server (stand-in after Kokoro-FastAPI)', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startOpenAiSpeechServer();
  });
  afterAll(() => server?.close());

  it('streams a WAV of unknown length into 24 kHz chunks', async () => {
    const openai = engine({ type: 'openai', url: server.url, voice: 'bf_emma' });
    const out = await collect(openai, { text: LONG });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.chunks.length).toBeGreaterThan(1);
    expect(out.durationMs).toBeGreaterThan(4000);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    expect((await probeCollected(out)).codec).toBe('pcm_s16le');
  });

  it('takes raw pcm too, and a base URL ending in /v1', async () => {
    const pcm = createOpenAiEngine({ name: 'k', url: `${server.url}/v1`, responseFormat: 'pcm', log });
    const out = await collect(pcm, { text: SENTENCE, voice: 'af_heart' });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.durationMs).toBeGreaterThan(1200);
    expect(out.durationMs).toBeLessThan(5000);
  });

  it('lists the server voices, probes healthy, and passes a refusal on as ENGINE_FAILED', async () => {
    const openai = engine({ type: 'openai', url: server.url });
    expect((await openai.voices()).map((v) => v.name)).toEqual(['af_heart', 'am_adam', 'bf_emma']);
    expect((await openai.probe()).healthy).toBe(true);
    const err = await failure(() => collect(openai, { text: 'Hi.', voice: 'zz_nobody' }));
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('zz_nobody');
  });
});

describe('pocket-tts serve (stand-in)', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startPocketTtsServer();
  });
  afterAll(() => server?.close());

  it('reads the chunked WAV with a ~2 GB header to its end, trailing silence included', async () => {
    const pocket = engine({ type: 'pocket_tts', url: server.url, voice: 'marius' });
    const out = await collect(pocket, { text: SENTENCE });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.durationMs).toBeGreaterThan(1400);
    expect(out.durationMs).toBeLessThan(5500);
    expect(endsInSilence(out.pcm, 190)).toBe(true);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    expect((await probeCollected(out)).sampleRateHz).toBe(24000);
  });

  it('offers the built-in voices, accepts URLs, refuses other names; probes /health', async () => {
    const pocket = engine({ type: 'pocket_tts', url: server.url });
    expect((await pocket.voices()).map((v) => v.name)).toContain('alba');
    expect((await collect(pocket, { text: 'Hallo.', voice: 'juergen' })).durationMs).toBeGreaterThan(300);
    const err = await failure(() => collect(pocket, { text: 'Hi.', voice: 'nobody' }));
    expect(err.code).toBe('VOICE_NOT_FOUND');
    expect(err.message).toContain('alba');
    expect((await pocket.probe()).healthy).toBe(true);
  });
});

describe('pocket-tts generate (stand-in CLI)', () => {
  const pocket = engine({ type: 'pocket_tts', transport: 'cli', command: POCKET_CLI });

  it('streams the WAV from stdout to its end', async () => {
    const out = await collect(pocket, { text: LONG, voice: 'alba' });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.durationMs).toBeGreaterThan(4000);
    expect(endsInSilence(out.pcm, 190)).toBe(true);
    expect((await pocket.probe()).healthy).toBe(true);
  });

  it('reports the CLI failing (empty text) as ENGINE_FAILED with its stderr', async () => {
    const err = await failure(() => collect(pocket, { text: '  ' }));
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('No input received');
  });
});
