import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { silentLog } from '../../src/shared/log.js';
import type { Engine } from '../../src/tts/engine.js';
import { createEngine } from '../../src/tts/engines/index.js';
import { PIPER_VOICE, piperVoiceDir, venvPython } from '../helpers/piper.js';
import { type RunningPiperHttp, startPiperHttp } from '../helpers/piper-http.js';
import { collect, failure, probeCollected, rms } from '../servers/collect.js';

const log = silentLog();
const SENTENCE = 'The washing machine has finished.';
const THREE_SENTENCES = 'The laundry is done. The dishwasher is running. Dinner is at seven.';
const JOE_FORMAT = { rateHz: 22050, widthBytes: 2, channels: 1 };

function engine(o: Record<string, unknown>): Engine {
  return createEngine(EngineOptionsSchema.parse({ name: 'piper', type: 'piper', ...o }), { log });
}

describe('Piper over HTTP (real piper.http_server)', () => {
  let server: RunningPiperHttp;
  let piper: Engine;
  beforeAll(async () => {
    server = await startPiperHttp();
    piper = engine({ transport: 'http', url: server.url });
  });
  afterAll(() => server?.stop());

  it('speaks a sentence as 22050 Hz mono that ffprobe decodes with the right length', async () => {
    const out = await collect(piper, { text: SENTENCE });
    expect(out.format).toEqual(JOE_FORMAT);
    expect(out.durationMs).toBeGreaterThan(1200);
    expect(out.durationMs).toBeLessThan(5000);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    const probe = await probeCollected(out);
    expect(probe).toMatchObject({ codec: 'pcm_s16le', sampleRateHz: 22050, channels: 1 });
    expect(Math.abs(probe.durationMs - out.durationMs)).toBeLessThan(50);
  });

  it('lists the voices of its data dir with their language, and probes healthy', async () => {
    expect(await piper.voices()).toEqual([{ name: PIPER_VOICE, languages: ['en_US'] }]);
    expect((await piper.probe()).healthy).toBe(true);
  });

  it('picks the voice by language and refuses unknown voices and languages with VOICE_NOT_FOUND', async () => {
    const british = await collect(piper, { text: 'Hello.', language: 'en-GB' });
    expect(british.durationMs).toBeGreaterThan(300);
    const byName = await collect(piper, { text: 'Hello.', voice: PIPER_VOICE });
    expect(byName.durationMs).toBeGreaterThan(300);
    const voice = await failure(() => collect(piper, { text: 'Hello.', voice: 'de_DE-thorsten-high' }));
    expect(voice.code).toBe('VOICE_NOT_FOUND');
    expect(voice.message).toContain(PIPER_VOICE);
    const language = await failure(() => collect(piper, { text: 'Hallo.', language: 'de' }));
    expect(language.code).toBe('VOICE_NOT_FOUND');
  });

  it('reports a server error (empty text) as ENGINE_FAILED with the HTTP status', async () => {
    const err = await failure(() => collect(piper, { text: '   ' }));
    expect(err.code).toBe('ENGINE_FAILED');
    expect(err.message).toContain('HTTP 500');
  });
});

function pythonChildren(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('-m piper') && !l.includes('http_server'));
}

describe('Piper as a command line (real python -m piper --output-raw)', () => {
  const command = `${venvPython()} -m piper --data-dir ${piperVoiceDir()}`;
  const piper = engine({ transport: 'cli', command, voice: PIPER_VOICE });

  it('streams raw PCM at the rate from the voice config, sentence by sentence', async () => {
    const out = await collect(piper, { text: THREE_SENTENCES });
    expect(out.format).toEqual(JOE_FORMAT);
    expect(out.chunks.length).toBeGreaterThan(1);
    expect(out.durationMs).toBeGreaterThan(3000);
    expect(out.durationMs).toBeLessThan(12_000);
    expect(rms(out.pcm)).toBeGreaterThan(300);
    const probe = await probeCollected(out);
    expect(probe.codec).toBe('pcm_s16le');
  });

  it('finds voices in --data-dir, accepts a model path, and refuses an unknown voice', async () => {
    expect((await piper.voices()).map((v) => v.name)).toContain(PIPER_VOICE);
    const byPath = engine({ transport: 'cli', command: `${venvPython()} -m piper` });
    const out = await collect(byPath, {
      text: 'Hello.',
      voice: join(piperVoiceDir(), `${PIPER_VOICE}.onnx`),
    });
    expect(out.durationMs).toBeGreaterThan(300);
    const err = await failure(() => collect(piper, { text: 'Hello.', voice: 'en_GB-nobody-low' }));
    expect(err.code).toBe('VOICE_NOT_FOUND');
  });

  it('probes healthy, and unhealthy without python', async () => {
    expect((await piper.probe()).healthy).toBe(true);
    const broken = engine({ transport: 'cli', command: '/nonexistent/python -m piper', voice: PIPER_VOICE });
    expect((await broken.probe()).healthy).toBe(false);
  });

  it('kills piper when aborted mid-stream', async () => {
    const ac = new AbortController();
    const err = await failure(async () => {
      for await (const _chunk of piper.synthesize({ text: THREE_SENTENCES.repeat(5) }, ac.signal)) ac.abort();
    });
    expect(err.code).toBe('ABORTED');
    await expect.poll(pythonChildren, { timeout: 5000 }).toEqual([]);
  });
});
