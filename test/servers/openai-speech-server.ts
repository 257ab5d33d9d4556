/**
 * Stand-in for an OpenAI-style speech server, after remsky/Kokoro-FastAPI
 * `api/src/routers/openai_compatible.py` and `api/src/structures/schemas.py` (OpenAISpeechRequest):
 * - `POST /v1/audio/speech` JSON `{model, input, voice, response_format, speed, stream}`; `model` must be
 *   one of `tts-1`, `tts-1-hd`, `kokoro` (else 400 `invalid_model`); an unknown voice → 400; `wav` streams
 *   a WAV with unknown-length sizes in chunked encoding, `pcm` raw s16le 24 kHz mono; defaults: voice
 *   `af_heart`, response_format `mp3` (not produced here: 400).
 * - `GET /v1/audio/voices` → `{"voices": [{"id", "name"}]}`; `GET /v1/models` → `{"object": "list", "data"}`.
 * Speech is real: espeak-ng resampled to 24 kHz (Kokoro's rate).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  RATE_24K,
  readBody,
  type StandIn,
  s16MonoWavHeader,
  sendJson,
  startStandIn,
  WAV_SIZE_UNKNOWN,
  writeChunk,
  writeSpeech,
} from './speech.js';

const MODELS = ['tts-1', 'tts-1-hd', 'kokoro'];
/** Voices this stand-in offers, each mapped to an espeak voice. */
export const OPENAI_VOICES: Record<string, string> = {
  af_heart: 'en-us+f3',
  am_adam: 'en-us+m3',
  bf_emma: 'en-gb+f2',
};

function invalid(res: ServerResponse, error: string, message: string): void {
  sendJson(res, 400, { detail: { error, message, type: 'invalid_request_error' } });
}

async function speech(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = JSON.parse((await readBody(req)).toString('utf8')) as Record<string, unknown>;
  const model = body.model ?? 'kokoro';
  const voice = body.voice ?? 'af_heart';
  const format = body.response_format ?? 'mp3';
  if (typeof model !== 'string' || !MODELS.includes(model))
    return invalid(res, 'invalid_model', `Unsupported model: ${model}`);
  if (typeof body.input !== 'string')
    return sendJson(res, 422, { detail: [{ loc: ['body', 'input'], msg: 'Field required' }] });
  if (typeof voice !== 'string' || !(voice in OPENAI_VOICES))
    return invalid(res, 'validation_error', `Voice '${voice}' not found`);
  if (format !== 'wav' && format !== 'pcm')
    return invalid(res, 'validation_error', `format ${format} not in this stand-in`);
  res.writeHead(200, {
    'content-type': format === 'wav' ? 'audio/wav' : 'audio/pcm',
    'content-disposition': `attachment; filename=speech.${format}`,
    'transfer-encoding': 'chunked',
  });
  // A streaming WAV header: 24 kHz 16-bit mono, sizes unknown.
  if (format === 'wav') await writeChunk(res, s16MonoWavHeader(RATE_24K, WAV_SIZE_UNKNOWN, WAV_SIZE_UNKNOWN));
  if (await writeSpeech(res, body.input, RATE_24K, OPENAI_VOICES[voice])) res.end();
}

/** Starts the stand-in on a free port. */
export function startOpenAiSpeechServer(): Promise<StandIn> {
  return startStandIn(async (req, res, url) => {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /v1/audio/speech') return speech(req, res);
    if (route === 'GET /v1/audio/voices') {
      return sendJson(res, 200, { voices: Object.keys(OPENAI_VOICES).map((id) => ({ id, name: id })) });
    }
    if (route === 'GET /v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: MODELS.map((id) => ({ id, object: 'model', owned_by: 'kokoro' })),
      });
    }
    sendJson(res, 404, { detail: 'Not Found' });
  });
}
