/**
 * Stand-in for Coqui TTS's `tts-server` with a multi-speaker, multilingual model, after idiap/coqui-ai-TTS
 * `TTS/server/server.py`:
 * - `GET|POST /api/tts` with `text`, `speaker_id`, `language_id` (query/form or `text`/`speaker-id`/
 *   `language-id` headers) → a whole 16-bit WAV at the model's rate (22050 Hz here) with honest sizes;
 *   empty text → 400 `{"error": "Text parameter is required"}`; synthesis failure → 500 `{"error": …}`.
 * - `GET /voices` (MaryTTS layer) → `<speaker> <locale> <gender>` lines; `GET /` → the demo page.
 * Speech is real: espeak-ng at its own 22050 Hz.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  readBody,
  type StandIn,
  s16MonoWavHeader,
  sendJson,
  speechPcmWhole,
  startStandIn,
} from './speech.js';

const RATE_HZ = 22050;
/** Speakers of the stand-in model and the espeak variant each uses. */
export const COQUI_SPEAKERS: Record<string, string> = { 'Claribel Dervla': '+f3', 'Andrew Chipper': '+m3' };
const LANGUAGES = ['en', 'de', 'fr', 'es'];

async function tts(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const values = new URLSearchParams(url.search);
  if (req.method === 'POST') {
    for (const [k, v] of new URLSearchParams((await readBody(req)).toString('utf8'))) values.set(k, v);
  }
  const header = (h: string) => (typeof req.headers[h] === 'string' ? (req.headers[h] as string) : undefined);
  const text = header('text') ?? values.get('text') ?? '';
  const speaker = header('speaker-id') ?? values.get('speaker_id') ?? 'Claribel Dervla';
  const language = header('language-id') ?? values.get('language_id') ?? 'en';
  if (!text.trim()) return sendJson(res, 400, { error: 'Text parameter is required' });
  const variant = COQUI_SPEAKERS[speaker];
  if (variant === undefined || !LANGUAGES.includes(language)) {
    return sendJson(res, 500, {
      error: `TTS synthesis failed: unknown speaker or language ${speaker}/${language}`,
    });
  }
  const pcm = await speechPcmWhole(text, RATE_HZ, `${language}${variant}`);
  const body = Buffer.concat([s16MonoWavHeader(RATE_HZ, pcm.length), pcm]);
  res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length });
  res.end(body);
}

/** Starts the stand-in on a free port. */
export function startCoquiTtsServer(): Promise<StandIn> {
  return startStandIn(async (req, res, url) => {
    if (url.pathname === '/api/tts' && (req.method === 'GET' || req.method === 'POST'))
      return tts(req, res, url);
    if (req.method === 'GET' && url.pathname === '/voices') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return void res.end(
        Object.keys(COQUI_SPEAKERS)
          .map((s) => `${s} en u\n`)
          .join(''),
      );
    }
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return void res.end('<!DOCTYPE html><title>TTS engine</title>');
    }
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<h1>Not Found</h1>');
  });
}
