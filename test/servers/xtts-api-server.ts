/**
 * Stand-in for daswer123/xtts-api-server (XTTS v2 cannot run here: its weights cannot be downloaded).
 * Follows `xtts_api_server/server.py` and `xtts_api_server/tts_funcs.py` (v0.9.0) route for route:
 * - `GET /speakers_list` → `["name", …]`; `GET /languages` → `{"languages": {"English": "en", …}}`.
 * - `POST /tts_to_audio/` (trailing slash; FastAPI answers `/tts_to_audio` with a 307 redirect to it)
 *   JSON `{text, speaker_wav, language}` → a whole WAV file, 24 kHz 32-bit float (torchaudio.save of a
 *   float tensor), sent with Content-Length like FileResponse. Unknown language or speaker → 500
 *   `{"detail": "Error: …"}` (the route's catch-all wraps the 400 its language check raises).
 * - `GET /tts_stream` answers an unknown language with 400 `{"detail": …}`.
 * - `GET /tts_stream?text=&speaker_wav=&language=` (all required: 422 otherwise) → `wave` module header for
 *   zero frames (RIFF size 36, data size 0), then raw s16le 24 kHz mono chunks as they are made.
 * Speech is real: espeak-ng resampled to 24 kHz.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  RATE_24K,
  readBody,
  type StandIn,
  s16MonoWavHeader,
  s16ToFloat32,
  sendJson,
  speechPcmWhole,
  startStandIn,
  writeChunk,
  writeSpeech,
} from './speech.js';

const LANGUAGES: Record<string, string> = {
  Arabic: 'ar',
  'Brazilian Portuguese': 'pt',
  Chinese: 'zh-cn',
  Czech: 'cs',
  Dutch: 'nl',
  English: 'en',
  French: 'fr',
  German: 'de',
  Italian: 'it',
  Polish: 'pl',
  Russian: 'ru',
  Spanish: 'es',
  Turkish: 'tr',
  Japanese: 'ja',
  Korean: 'ko',
  Hungarian: 'hu',
  Hindi: 'hi',
};
const CODES = new Set(Object.values(LANGUAGES));

/** A 24 kHz mono 32-bit float WAV with honest sizes: fmt (tag 3, 18 bytes), fact, data. */
function floatWav(floats: Buffer): Buffer {
  const fmt = Buffer.alloc(8 + 18);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(18, 4);
  fmt.writeUInt16LE(3, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(RATE_24K, 12);
  fmt.writeUInt32LE(RATE_24K * 4, 16);
  fmt.writeUInt16LE(4, 20);
  fmt.writeUInt16LE(32, 22);
  const fact = Buffer.alloc(12);
  fact.write('fact', 0, 'latin1');
  fact.writeUInt32LE(4, 4);
  fact.writeUInt32LE(floats.length / 4, 8);
  const data = Buffer.alloc(8);
  data.write('data', 0, 'latin1');
  data.writeUInt32LE(floats.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + fmt.length + fact.length + data.length + floats.length, 4);
  riff.write('WAVE', 8, 'latin1');
  return Buffer.concat([riff, fmt, fact, data, floats]);
}

/** espeak voice per XTTS language, so languages sound different. */
function espeakVoice(language: string): string {
  return language === 'zh-cn' ? 'cmn' : language;
}

async function ttsToAudio(req: IncomingMessage, res: ServerResponse, speakers: string[]): Promise<void> {
  const body = JSON.parse((await readBody(req)).toString('utf8')) as Record<string, string | undefined>;
  const { text, speaker_wav: speaker, language } = body;
  if (typeof text !== 'string' || typeof language !== 'string') {
    return sendJson(res, 422, { detail: [{ type: 'missing', loc: ['body'], msg: 'Field required' }] });
  }
  if (!CODES.has(language.toLowerCase())) {
    return sendJson(res, 500, {
      detail: 'Error: 400: Language code sent is either unsupported or misspelled.',
    });
  }
  if (!speaker || (!speaker.endsWith('.wav') && !speakers.includes(speaker))) {
    return sendJson(res, 500, { detail: `Error: Speaker ${speaker} not found.` });
  }
  const wav = floatWav(
    s16ToFloat32(await speechPcmWhole(text, RATE_24K, espeakVoice(language.toLowerCase()))),
  );
  res.writeHead(200, {
    'content-type': 'audio/wav',
    'content-length': wav.length,
    'content-disposition': 'attachment; filename="output.wav"',
  });
  res.end(wav);
}

async function ttsStream(url: URL, res: ServerResponse): Promise<void> {
  const text = url.searchParams.get('text');
  const speaker = url.searchParams.get('speaker_wav');
  const language = url.searchParams.get('language');
  if (text === null || speaker === null || language === null) {
    return sendJson(res, 422, { detail: [{ type: 'missing', loc: ['query'], msg: 'Field required' }] });
  }
  if (!CODES.has(language.toLowerCase())) {
    return sendJson(res, 400, { detail: 'Language code sent is either unsupported or misspelled.' });
  }
  res.writeHead(200, { 'content-type': 'audio/x-wav' });
  // What Python's `wave` writes for zero frames: sizes 36 and 0.
  await writeChunk(res, s16MonoWavHeader(RATE_24K, 0));
  await writeSpeech(res, text, RATE_24K, espeakVoice(language.toLowerCase()));
  res.end();
}

/**
 * Starts the stand-in on a free port. `speakers` are the names /speakers_list reports (default
 * `["female_calm", "male_deep"]`).
 */
export function startXttsApiServer(speakers = ['female_calm', 'male_deep']): Promise<StandIn> {
  return startStandIn(async (req, res, url) => {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /speakers_list') return sendJson(res, 200, speakers);
    if (route === 'GET /languages') return sendJson(res, 200, { languages: LANGUAGES });
    if (route === 'POST /tts_to_audio') {
      res.writeHead(307, { location: '/tts_to_audio/', 'content-length': 0 });
      return void res.end();
    }
    if (route === 'POST /tts_to_audio/') return ttsToAudio(req, res, speakers);
    if (route === 'GET /tts_stream') return ttsStream(url, res);
    sendJson(res, req.method === 'GET' || req.method === 'POST' ? 404 : 405, { detail: 'Not Found' });
  });
}
