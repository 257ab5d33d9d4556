/**
 * Stand-in for `pocket-tts serve` (kyutai-labs/pocket-tts; its weights cannot be downloaded here).
 * Follows `pocket_tts/main.py` (`/health`, `/tts`), `pocket_tts/data/audio.py` (StreamingWAVWriter) and
 * `pocket_tts/utils/utils.py` (built-in voice names):
 * - `GET /health` → `{"status": "healthy"}`.
 * - `POST /tts` form fields `text` (required), `voice_url` (built-in name or http://, https://, hf:// URL)
 *   or an uploaded `voice_wav` → `Transfer-Encoding: chunked` WAV, 24 kHz 16-bit mono, whose header
 *   declares 1,000,000,000 frames (about 2 GB) and is never patched, then 0.2 s of silence at the end.
 *   Empty text → 400 `{"detail": "Text cannot be empty"}`; both voice fields → 400; a bad voice_url → 400.
 * Speech is real: espeak-ng resampled to 24 kHz.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  RATE_24K,
  readBody,
  type StandIn,
  s16MonoWavHeader,
  sendJson,
  startStandIn,
  writeChunk,
  writeSpeech,
} from './speech.js';

/** Built-in voice names of pocket-tts (`_ORIGINS_OF_PREDEFINED_VOICES`). */
export const POCKET_VOICES = [
  'cosette',
  'marius',
  'javert',
  'alba',
  'jean',
  'anna',
  'vera',
  'fantine',
  'charles',
  'paul',
  'eponine',
  'azelma',
  'george',
  'mary',
  'jane',
  'michael',
  'eve',
  'bill_boerst',
  'peter_yearsley',
  'stuart_bell',
  'caro_davy',
  'giovanni',
  'lola',
  'juergen',
  'rafael',
  'estelle',
];

/** Frames the StreamingWAVWriter header claims (`setnframes(1_000_000_000)`). */
const CLAIMED_FRAMES = 1_000_000_000;

/** 0.2 s of 24 kHz 16-bit silence, appended by StreamingWAVWriter.finalize. */
const TRAILING_SILENCE = Buffer.alloc(Math.round(RATE_24K * 0.2) * 2);

/** Parses a form body (multipart or urlencoded) with the platform's own parser. */
async function readForm(req: IncomingMessage): Promise<FormData> {
  const body = await readBody(req);
  const request = new Request('http://localhost/', {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? '' },
    body: new Uint8Array(body),
  });
  return request.formData();
}

/** espeak voice per pocket-tts voice, so voices sound different. */
function espeakVoice(voice: string): string {
  const byLanguage: Record<string, string> = {
    giovanni: 'it',
    lola: 'es',
    juergen: 'de',
    rafael: 'pt',
    estelle: 'fr',
  };
  return byLanguage[voice] ?? (POCKET_VOICES.indexOf(voice) % 2 === 1 ? 'en+m3' : 'en+f3');
}

async function tts(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req).catch(() => undefined);
  const text = form?.get('text');
  if (typeof text !== 'string') {
    return sendJson(res, 422, {
      detail: [{ type: 'missing', loc: ['body', 'text'], msg: 'Field required' }],
    });
  }
  if (!text.trim()) return sendJson(res, 400, { detail: 'Text cannot be empty' });
  const voiceUrl = form?.get('voice_url');
  const voiceWav = form?.get('voice_wav');
  if (typeof voiceUrl === 'string' && voiceWav) {
    return sendJson(res, 400, { detail: 'Cannot provide both voice_url and voice_wav' });
  }
  const voice = typeof voiceUrl === 'string' ? voiceUrl : 'alba';
  if (!/^(https?|hf):\/\//.test(voice) && !POCKET_VOICES.includes(voice)) {
    return sendJson(res, 400, { detail: 'voice_url must start with http://, https://, or hf://' });
  }
  res.writeHead(200, {
    'content-type': 'audio/wav',
    'content-disposition': 'attachment; filename=generated_speech.wav',
    'transfer-encoding': 'chunked',
  });
  // The header Python's `wave` writes after `setnframes(1e9)`: sizes 36 + 2e9 and 2e9.
  await writeChunk(res, s16MonoWavHeader(RATE_24K, CLAIMED_FRAMES * 2));
  if (!(await writeSpeech(res, text, RATE_24K, espeakVoice(voice)))) return;
  await writeChunk(res, TRAILING_SILENCE);
  res.end();
}

/** Starts the stand-in on a free port. */
export function startPocketTtsServer(): Promise<StandIn> {
  return startStandIn(async (req, res, { pathname: path }) => {
    if (req.method === 'GET' && path === '/health') return sendJson(res, 200, { status: 'healthy' });
    if (req.method === 'POST' && path === '/tts') return tts(req, res);
    sendJson(res, 404, { detail: 'Not Found' });
  });
}
