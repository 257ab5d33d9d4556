/**
 * Issue 3's first acceptance point: a say through each engine type and transport, with that engine alone in the
 * chain (no fallback to hide a failure), answers ok with Ogg Opus that ffprobe decodes. Real Piper on its three
 * transports and real espeak-ng; stand-ins (test/servers/) for XTTS, Coqui, pocket-tts and an OpenAI-style server.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../helpers/ffprobe.js';
import { startInProcessHub } from '../helpers/hub-inprocess.js';
import { type RunningMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { connectSayClient, type SayClient } from '../helpers/mqtt.js';
import {
  PIPER_VOICE,
  piperVoiceDir,
  type RunningPiper,
  startWyomingPiper,
  venvPython,
} from '../helpers/piper.js';
import { type RunningPiperHttp, startPiperHttp } from '../helpers/piper-http.js';
import { startCoquiTtsServer } from '../servers/coqui-tts-server.js';
import { startOpenAiSpeechServer } from '../servers/openai-speech-server.js';
import { startPocketTtsServer } from '../servers/pocket-tts-server.js';
import type { StandIn } from '../servers/speech.js';
import { startXttsApiServer } from '../servers/xtts-api-server.js';

const POCKET_CLI = fileURLToPath(new URL('../servers/pocket-tts', import.meta.url));
const TEXT = 'The front door has been open for ten minutes.';

describe('a say through every engine type and transport', () => {
  let broker: RunningMosquitto;
  let client: SayClient;
  let wyomingPiper: RunningPiper;
  let piperHttp: RunningPiperHttp;
  let xtts: StandIn;
  let coqui: StandIn;
  let openai: StandIn;
  let pocket: StandIn;

  beforeAll(async () => {
    [broker, wyomingPiper, piperHttp, xtts, coqui, openai, pocket] = await Promise.all([
      startMosquitto(),
      startWyomingPiper(),
      startPiperHttp(),
      startXttsApiServer(),
      startCoquiTtsServer(),
      startOpenAiSpeechServer(),
      startPocketTtsServer(),
    ]);
    client = await connectSayClient(broker.url);
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await Promise.all([
      wyomingPiper?.stop(),
      piperHttp?.stop(),
      xtts?.close(),
      coqui?.close(),
      openai?.close(),
      pocket?.close(),
    ]);
    await broker?.stop();
  });

  const cases: Array<[string, () => Record<string, unknown>]> = [
    ['espeak (cli)', () => ({ type: 'espeak' })],
    [
      'piper wyoming',
      () => ({ type: 'piper', transport: 'wyoming', url: wyomingPiper.url, voice: PIPER_VOICE }),
    ],
    ['piper http', () => ({ type: 'piper', transport: 'http', url: piperHttp.url, voice: PIPER_VOICE })],
    [
      'piper cli',
      () => ({
        type: 'piper',
        transport: 'cli',
        command: `${venvPython()} -m piper --data-dir ${piperVoiceDir()}`,
        voice: PIPER_VOICE,
      }),
    ],
    ['wyoming (any server)', () => ({ type: 'wyoming', url: wyomingPiper.url, voice: PIPER_VOICE })],
    ['xtts xtts_api', () => ({ type: 'xtts', transport: 'xtts_api', url: xtts.url, language: 'en' })],
    ['xtts xtts_stream', () => ({ type: 'xtts', transport: 'xtts_stream', url: xtts.url, language: 'en' })],
    ['xtts coqui', () => ({ type: 'xtts', transport: 'coqui', url: coqui.url })],
    ['xtts openai', () => ({ type: 'xtts', transport: 'openai', url: openai.url, voice: 'bf_emma' })],
    ['pocket_tts http', () => ({ type: 'pocket_tts', transport: 'http', url: pocket.url, voice: 'alba' })],
    ['pocket_tts cli', () => ({ type: 'pocket_tts', transport: 'cli', command: POCKET_CLI, voice: 'alba' })],
    ['openai', () => ({ type: 'openai', url: openai.url, voice: 'bf_emma' })],
  ];

  it.each(cases)('%s speaks Ogg Opus that ffprobe decodes', async (label, engine) => {
    const name = label.split(' ')[0] as string;
    const hub = await startInProcessHub(
      { engines: [{ name, timeout_s: 60, ...engine() }], mqtt: { client_id: `every-${name}-${Date.now()}` } },
      broker.url,
    );
    try {
      const id = `every-${label.replace(/\W+/g, '-')}`;
      const result = await client.say(JSON.stringify({ text: TEXT, id }), id, 90_000);
      expect(result).toMatchObject({ id, ok: true, engine: name, format: 'opus', cached: false });
      expect(result.fallback_from).toBeUndefined();
      const audio = Buffer.from(await (await fetch(result.url as string)).arrayBuffer());
      const probe = await ffprobe(audio);
      expect(probe.codec).toBe('opus');
      expect(probe.container).toContain('ogg');
      expect(probe.durationMs).toBeGreaterThan(1500);
      expect(Math.abs(probe.durationMs - (result.duration_ms as number))).toBeLessThan(150);
    } finally {
      await hub.close();
    }
  });
});
