import { z } from 'zod';
import type { AudioChunk } from '../../audio/format.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { fetchWav } from './audio-source.js';
import { probeHealth, voiceNotFound } from './engine-errors.js';
import { getJson, joinUrl, withTimeout } from './http-client.js';
import { createVoiceCache, findVoice, normalizeLanguage } from './voice-list.js';

/**
 * XTTS through daswer123/xtts-api-server (default port 8020). Source: `xtts_api_server/server.py` and
 * `xtts_api_server/tts_funcs.py`:
 * - `POST /tts_to_audio/` (the trailing slash is part of the route) JSON `{text, speaker_wav, language}`
 *   → a whole WAV file at 24 kHz (torchaudio writes 32-bit float; the WAV parser converts it).
 * - `GET /tts_stream?text=&speaker_wav=&language=` → a WAV header declaring 0 data bytes, then raw
 *   s16le 24 kHz mono chunks as XTTS produces them, until the response ends.
 * - `GET /speakers_list` → `["name", …]` (wav files and folders in its speakers dir).
 * `speaker_wav` is a speaker name from that list or a `.wav` path on the server; `language` one of
 * {@link XTTS_LANGUAGES} (HTTP 400 otherwise).
 */

/** Language codes xtts-api-server accepts (`supported_languages` in tts_funcs.py). */
export const XTTS_LANGUAGES = [
  'ar',
  'pt',
  'zh-cn',
  'cs',
  'nl',
  'en',
  'fr',
  'de',
  'it',
  'pl',
  'ru',
  'es',
  'tr',
  'ja',
  'ko',
  'hu',
  'hi',
] as const;

/** Options of {@link createXttsEngine}. */
export interface XttsEngineOptions {
  name: string;
  /** `xtts_api` (POST /tts_to_audio/, whole file) or `xtts_stream` (GET /tts_stream, streamed). */
  transport: 'xtts_api' | 'xtts_stream';
  /** Base URL, e.g. `http://127.0.0.1:8020`. */
  url: string;
  /** Default speaker (`speaker_wav`): a name from /speakers_list or a .wav path on the server. */
  voice?: string;
  /** Same as voice when voice is not set. */
  speaker?: string;
  /** Default language; `en` when not set. */
  language?: string;
  log: Log;
}

/** Maps a language tag to an XTTS code: `zh-CN` → `zh-cn`, `de-AT` → `de`, `pt-BR` → `pt`. */
export function xttsLanguage(tag: string): string {
  const lang = normalizeLanguage(tag);
  if ((XTTS_LANGUAGES as readonly string[]).includes(lang)) return lang;
  const primary = lang.split('-')[0] ?? lang;
  return primary === 'zh' ? 'zh-cn' : primary;
}

/**
 * Creates the XTTS engine. Speaker: request `voice`, else request `speaker`, else the options' voice or
 * speaker, else the first of /speakers_list. Language: request, else options, else `en`.
 * @throws (from synthesize) AppError VOICE_NOT_FOUND (speaker not listed; a `.wav` path is passed as is),
 *   ENGINE_UNAVAILABLE, ENGINE_FAILED (HTTP error such as an unsupported language, dropped connection),
 *   ENGINE_BAD_RESPONSE (not WAV), or the abort error.
 */
export function createXttsEngine(opts: XttsEngineOptions): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });
  const cache = createVoiceCache(async (signal) => {
    const names = await getJson(
      name,
      joinUrl(opts.url, '/speakers_list'),
      z.array(z.string()),
      withTimeout(signal),
    );
    return names.map((n): Voice => ({ name: n, languages: [...XTTS_LANGUAGES] }));
  });

  const pickSpeaker = async (request: SynthesisRequest, signal: AbortSignal): Promise<string> => {
    const wanted = request.voice ?? request.speaker ?? opts.voice ?? opts.speaker;
    if (wanted?.endsWith('.wav')) return wanted;
    if (wanted === undefined) {
      const first = (await cache.get(signal))[0];
      if (!first) throw voiceNotFound(name, 'a speaker', []);
      return first.name;
    }
    if (!(await findVoice(cache, wanted, signal))) {
      throw voiceNotFound(
        name,
        `speaker '${wanted}'`,
        (await cache.get(signal)).map((v) => v.name),
      );
    }
    return wanted;
  };

  const request = (text: string, speaker: string, language: string, signal: AbortSignal) => {
    if (opts.transport === 'xtts_stream') {
      const query = new URLSearchParams({ text, speaker_wav: speaker, language });
      return fetchWav(name, `${joinUrl(opts.url, '/tts_stream')}?${query}`, { method: 'GET' }, signal);
    }
    const body = JSON.stringify({ text, speaker_wav: speaker, language });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
    return fetchWav(name, joinUrl(opts.url, '/tts_to_audio/'), init, signal);
  };

  async function* synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const speaker = await pickSpeaker(req, signal);
    const language = xttsLanguage(req.language ?? opts.language ?? 'en');
    log.debug({ speaker, language, transport: opts.transport, chars: req.text.length }, 'xtts synthesize');
    yield* request(req.text, speaker, language, signal);
  }

  return {
    name,
    type: 'xtts',
    synthesize,
    voices: (signal) => cache.get(signal),
    probe: (signal) => probeHealth(() => cache.refresh(signal)),
  };
}
