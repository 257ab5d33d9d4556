import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import type { Engine } from '../../src/tts/engine.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { collect, failure, probeCollected, rms } from '../servers/collect.js';
import { startCoquiTtsServer } from '../servers/coqui-tts-server.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import type { StandIn } from '../servers/speech.js';
import { startXttsApiServer } from '../servers/xtts-api-server.js';

const log = silentLog();
const SENTENCE = 'The washing machine has finished.';
const LONG = 'The laundry is done. The dishwasher is running. Dinner is at seven. Please close the windows.';
const FORMAT_24K = { rateHz: 24000, widthBytes: 2, channels: 1 };

function engine(o: Record<string, unknown>): Engine {
  return createEngine(EngineOptionsSchema.parse({ name: 'xtts', type: 'xtts', ...o }), { log });
}

describe('XTTS via xtts-api-server (stand-in)', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startXttsApiServer();
  });
  afterAll(() => server?.close());

  it('xtts_api: POST /tts_to_audio/ float WAV comes out as 24 kHz s16 speech', async () => {
    const xtts = engine({ transport: 'xtts_api', url: server.url, voice: 'male_deep' });
    const out = await collect(xtts, { text: SENTENCE });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.durationMs).toBeGreaterThan(1200);
    expect(out.durationMs).toBeLessThan(5000);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    expect((await probeCollected(out)).sampleRateHz).toBe(24000);
    expect(server.requests).toContain('POST /tts_to_audio/');
  });

  it('xtts_stream: the zero-length header does not end the audio; chunks arrive as made', async () => {
    const xtts = engine({
      transport: 'xtts_stream',
      url: server.url,
      voice: 'female_calm',
      language: 'de-DE',
    });
    const out = await collect(xtts, { text: LONG });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.chunks.length).toBeGreaterThan(1);
    expect(out.durationMs).toBeGreaterThan(4000);
    const sent = server.requests.filter((r) => r.startsWith('GET /tts_stream')).at(-1) ?? '';
    const query = new URL(sent.slice(4), 'http://x').searchParams;
    expect([query.get('speaker_wav'), query.get('language'), query.get('text')]).toEqual([
      'female_calm',
      'de',
      LONG,
    ]);
  });

  it('uses the first listed speaker when none is set, and refuses an unknown one naming the known', async () => {
    const xtts = engine({ transport: 'xtts_api', url: server.url });
    expect((await xtts.voices()).map((v) => v.name)).toEqual(['female_calm', 'male_deep']);
    expect((await collect(xtts, { text: 'Hi.' })).durationMs).toBeGreaterThan(200);
    const err = await failure(() => collect(xtts, { text: 'Hi.', voice: 'nobody' }));
    expect(err.code).toBe('VOICE_NOT_FOUND');
    expect(err.message).toContain('female_calm');
    expect((await xtts.probe()).healthy).toBe(true);
  });

  it('reports the server refusing a language as ENGINE_FAILED with its message', async () => {
    const xtts = engine({ transport: 'xtts_stream', url: server.url, voice: 'male_deep' });
    const err = await failure(() => collect(xtts, { text: 'Hi.', language: 'sv' }));
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('unsupported or misspelled');
  });
});

describe('XTTS via Coqui tts-server (stand-in)', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startCoquiTtsServer();
  });
  afterAll(() => server?.close());

  it('speaks through GET /api/tts with speaker and language, at the model rate', async () => {
    const coqui = engine({ transport: 'coqui', url: server.url, speaker: 'Andrew Chipper', language: 'en' });
    const out = await collect(coqui, { text: SENTENCE });
    expect(out.format).toEqual({ rateHz: 22050, widthBytes: 2, channels: 1 });
    expect(out.durationMs).toBeGreaterThan(1200);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    expect(server.requests.at(-1)).toContain('speaker_id=Andrew+Chipper');
  });

  it('lists speakers with spaces in their names, and refuses an unknown one', async () => {
    const coqui = engine({ transport: 'coqui', url: server.url });
    expect((await coqui.voices()).map((v) => v.name)).toEqual(['Claribel Dervla', 'Andrew Chipper']);
    const err = await failure(() => collect(coqui, { text: 'Hi.', speaker: 'Nobody' }));
    expect(err.code).toBe('VOICE_NOT_FOUND');
    expect((await coqui.probe()).healthy).toBe(true);
  });
});

describe('XTTS via an OpenAI-style server (stand-in)', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startOpenAiSpeechServer();
  });
  afterAll(() => server?.close());

  it('speaks through POST /v1/audio/speech and reports type xtts', async () => {
    const xtts = engine({ transport: 'openai', url: server.url, voice: 'am_adam' });
    expect(xtts.type).toBe('xtts');
    const out = await collect(xtts, { text: SENTENCE });
    expect(out.format).toEqual(FORMAT_24K);
    expect(out.durationMs).toBeGreaterThan(1200);
  });
});
