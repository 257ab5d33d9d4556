import type { AudioChunk } from '../../audio/format.js';
import { isAppError } from '../../shared/errors.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { fetchWav } from './audio-source.js';
import { probeHealth, voiceNotFound } from './engine-errors.js';
import { type HttpEngineOptions, httpReachable, httpRequest, joinUrl, withTimeout } from './http-client.js';
import { createVoiceCache, findVoice } from './voice-list.js';

/**
 * Coqui TTS's demo server (`tts-server`, default port 5002), e.g. running XTTS. Source: coqui-ai/TTS and
 * idiap/coqui-ai-TTS `TTS/server/server.py`:
 * - `GET /api/tts?text=&speaker_id=&language_id=` → a whole WAV at the model's rate (all versions accept
 *   GET with query arguments; newer ones also POST and headers).
 * - `GET /voices` (MaryTTS compatibility, newer versions) → one line per speaker: `<name> <locale> <gender>`.
 * - `GET /` → the demo page (used as the health check).
 */

/** Options of {@link createCoquiEngine} (URL e.g. `http://127.0.0.1:5002`; `voice`/`speaker`: speaker id). */
export type CoquiEngineOptions = HttpEngineOptions;

/**
 * Parses the MaryTTS-style `/voices` text: `<name> <locale> <gender>` per line. Names may contain spaces
 * (XTTS speakers such as `Claribel Dervla`), so locale and gender are the last two words.
 */
export function parseCoquiVoices(text: string): Voice[] {
  const voices: Voice[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 3) continue;
    voices.push({ name: words.slice(0, -2).join(' '), languages: [words[words.length - 2] ?? ''] });
  }
  return voices;
}

/**
 * Creates the Coqui tts-server engine. Speaker: request `speaker`, else request `voice`, else the options';
 * checked against `/voices` when the server has it. Language: request, else options.
 * @throws (from synthesize) AppError VOICE_NOT_FOUND, ENGINE_UNAVAILABLE, ENGINE_FAILED,
 *   ENGINE_BAD_RESPONSE, or the abort error.
 */
export function createCoquiEngine(opts: CoquiEngineOptions): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });
  const cache = createVoiceCache(async (signal) => {
    try {
      const response = await httpRequest(
        name,
        joinUrl(opts.url, '/voices'),
        { method: 'GET' },
        withTimeout(signal),
      );
      return parseCoquiVoices(await response.text());
    } catch (err) {
      // Servers before the MaryTTS layer have no /voices: the list is unknown, not empty.
      if (isAppError(err, 'ENGINE_FAILED') && err.details?.status === 404) return [];
      throw err;
    }
  });

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const speaker = request.speaker ?? request.voice ?? opts.speaker ?? opts.voice;
    const language = request.language ?? opts.language;
    if (speaker) {
      const known = await cache.get(signal);
      if (known.length > 0 && !(await findVoice(cache, speaker, signal))) {
        throw voiceNotFound(
          name,
          `speaker '${speaker}'`,
          known.map((v) => v.name),
        );
      }
    }
    const query = new URLSearchParams({ text: request.text });
    if (speaker) query.set('speaker_id', speaker);
    if (language) query.set('language_id', language);
    log.debug({ speaker, language, chars: request.text.length }, 'coqui synthesize');
    yield* fetchWav(name, `${joinUrl(opts.url, '/api/tts')}?${query}`, { method: 'GET' }, signal);
  }

  return {
    name,
    type: 'xtts',
    synthesize,
    voices: (signal) => cache.get(signal),
    probe: (signal) => probeHealth(() => httpReachable(name, joinUrl(opts.url, '/'), withTimeout(signal))),
  };
}
