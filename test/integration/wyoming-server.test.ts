/**
 * The hub as a Wyoming TTS provider, checked with the real `wyoming` PyPI package as the client
 * (test/helpers/wyoming_tts_client.py, run with the project's venv python): describe lists our engine and its
 * voices, synthesize answers one audio group, streaming answers one group per sentence then
 * synthesize-stopped, and everything goes through the say service (the cache fills).
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegSpawnCount } from '../../src/audio/ffmpeg.js';
import { type HubFixture, startHubFixture } from '../helpers/hub-fixture.js';
import { PIPER_VOICE, type RunningPiper, startWyomingPiper, venvPython } from '../helpers/piper.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'wyoming_tts_client.py');

interface Group {
  rate: number;
  width: number;
  channels: number;
  bytes: number;
}
interface Summary {
  types: string[];
  groups: Group[];
  bytes: number;
  error: string | null;
}
interface ClientOutput {
  info: Array<{
    name: string;
    installed: boolean;
    attribution: string;
    supports_synthesize_streaming: boolean;
    voices: Array<{
      name: string;
      description: string | null;
      languages: string[];
      installed: boolean;
      speakers: string[];
    }>;
  }>;
  synthesize: Summary;
  stream: Summary;
}

describe('Wyoming TTS server with the real wyoming client', () => {
  let piper: RunningPiper;
  let fx: HubFixture;
  let port: number;

  beforeAll(async () => {
    piper = await startWyomingPiper();
    port = await freePort();
    fx = await startHubFixture({
      wyoming_server: { enabled: true, port },
      engines: [
        { name: 'espeak', type: 'espeak' },
        { name: 'piper', type: 'piper', url: piper.url, voice: PIPER_VOICE, timeout_s: 60 },
      ],
    });
  });
  afterAll(async () => {
    await fx?.close();
    await piper?.stop();
  });

  const client = async (voice = '', text?: string): Promise<ClientOutput> => {
    const args = [CLIENT, '127.0.0.1', String(port), voice, ...(text ? [text] : [])];
    const { stdout } = await run(venvPython(), args, { timeout: 90_000 });
    return JSON.parse(stdout) as ClientOutput;
  };

  it('describes, synthesizes and streams per sentence through the say service', async () => {
    const entriesBefore = fx.hub.cache.stats().entries;
    const out = await client();

    // One program (Home Assistant uses only the first) with every engine's voices, named <engine>:<voice>.
    expect(out.info).toHaveLength(1);
    const program = out.info[0];
    expect(program).toMatchObject({
      name: 'TTS Hub',
      installed: true,
      supports_synthesize_streaming: true,
      attribution: 'TTS Hub',
    });
    expect(program?.voices.length).toBeGreaterThan(10);
    expect(program?.voices.every((v) => v.installed && v.languages.length > 0)).toBe(true);
    expect(program?.voices.find((v) => v.name === 'espeak:en-us')?.description).toMatch(/^espeak: en-us/);
    expect(program?.voices.find((v) => v.name === `piper:${PIPER_VOICE}`)).toMatchObject({
      description: expect.stringMatching(new RegExp(`^piper: ${PIPER_VOICE}`)),
      languages: ['en_US'],
    });

    expect(out.synthesize.error).toBeNull();
    expect(out.synthesize.types).toEqual(['audio-start', 'audio-chunk*', 'audio-stop']);
    expect(out.synthesize.groups).toHaveLength(1);
    expect(out.synthesize.groups[0]).toMatchObject({ rate: 22050, width: 2, channels: 1 });
    // More than a second of 22.05 kHz 16-bit mono speech.
    expect(out.synthesize.bytes).toBeGreaterThan(44_100);

    expect(out.stream.error).toBeNull();
    expect(out.stream.types).toEqual([
      'audio-start',
      'audio-chunk*',
      'audio-stop',
      'audio-start',
      'audio-chunk*',
      'audio-stop',
      'synthesize-stopped',
    ]);
    expect(out.stream.groups.every((g) => g.bytes > 10_000)).toBe(true);
    // Three texts said (one plain, two sentences), each cached as Ogg Opus.
    expect(fx.hub.cache.stats().entries).toBeGreaterThanOrEqual(entriesBefore + 3);
  });

  it("reaches the second engine through the first program's voice list, PCM complete", async () => {
    const runsBefore = fx.hub.sayService.stats().engineRuns.piper ?? 0;
    const spawnsBefore = ffmpegSpawnCount();
    const text = 'Piper answers through the hub. Every sample arrives.';
    const out = await client(`piper:${PIPER_VOICE}`, text);
    // PCM straight from the live job, cached as WAV made in process: no ffmpeg on the way (miss or hit).
    expect(ffmpegSpawnCount()).toBe(spawnsBefore);
    expect(out.synthesize.error).toBeNull();
    expect(out.synthesize.groups).toEqual([expect.objectContaining({ rate: 22050, width: 2, channels: 1 })]);
    expect(fx.hub.sayService.stats().engineRuns.piper ?? 0).toBeGreaterThan(runsBefore);
    // The same text, engine and voice as WAV is now a cache hit: its duration is what the client got.
    const cachedMs = async (said: string): Promise<number> => {
      const res = await fetch(`${fx.url}/api/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // `clean`: the text of Home Assistant is cleaned up (text.clean), so the key is the cleaned text's.
        body: JSON.stringify({ text: said, engine: 'piper', voice: PIPER_VOICE, format: 'wav', clean: true }),
      });
      const result = (await res.json()) as { cached: boolean; duration_ms: number };
      expect(result.cached, said).toBe(true);
      return result.duration_ms;
    };
    const pcmMs = (bytes: number): number => (bytes / 2 / 22050) * 1000;
    expect(Math.abs(pcmMs(out.synthesize.bytes) - (await cachedMs(text)))).toBeLessThan(50);
    // Streaming: one group per sentence, in sentence order (their lengths differ), each complete.
    expect(out.stream.error).toBeNull();
    const [g1, g2] = out.stream.groups;
    expect(out.stream.groups).toHaveLength(2);
    expect(Math.abs(pcmMs(g1?.bytes ?? 0) - (await cachedMs('First streamed sentence.')))).toBeLessThan(50);
    expect(Math.abs(pcmMs(g2?.bytes ?? 0) - (await cachedMs('Second one')))).toBeLessThan(50);
  });

  it('routes a bare voice name to the engine that has it, and answers the same text from the cache', async () => {
    const hitsBefore = fx.hub.sayService.stats().cacheHits;
    const out = await client('en-us');
    expect(out.info[0]?.voices.map((v) => v.name)).toContain('espeak:en-us');
    expect(out.synthesize.error).toBeNull();
    expect(out.synthesize.bytes).toBeGreaterThan(44_100);
    const again = await client('en-us');
    expect(again.synthesize.error).toBeNull();
    expect(again.synthesize.bytes).toBe(out.synthesize.bytes);
    expect(fx.hub.sayService.stats().cacheHits).toBeGreaterThan(hitsBefore);
  });
});
