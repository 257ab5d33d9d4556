import type { AudioChunk } from '../../audio/format.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { fetchWav } from './audio-source.js';
import { probeHealth, voiceNotFound } from './engine-errors.js';
import { getJson, type HttpEngineOptions, joinUrl, withTimeout } from './http-client.js';
import { PiperVoicesSchema, piperSpeaker, piperVoice } from './piper-voice.js';
import { createVoiceCache, findVoice, voiceForLanguage } from './voice-list.js';

/**
 * Piper over piper1-gpl's HTTP server (`python -m piper.http_server`, default port 5000).
 * Source: OHF-Voice/piper1-gpl `src/piper/http_server.py`:
 * - `POST /synthesize` JSON `{text, voice?, speaker?, speaker_id?, length_scale?, noise_scale?,
 *   noise_w_scale?}` → one whole WAV (16-bit mono at the voice's rate; Flask labels it text/html).
 *   An unknown voice or speaker silently falls back to the default, so the hub checks them against
 *   `/voices` first. Empty text answers HTTP 500.
 * - `GET /voices` → `{"<voice id>": <voice .onnx.json config>, …}` for every voice in its data dirs.
 */

/** Options of {@link createPiperHttpEngine}. */
export type PiperHttpEngineOptions = HttpEngineOptions;

/**
 * Creates the Piper HTTP engine. Voice: request `voice`, else a voice for request `language`, else the
 * options' voice, else one for the options' language, else the server's default.
 * `synthesize` streams the WAV body through the WAV parser as it arrives.
 * @throws (from synthesize) AppError VOICE_NOT_FOUND (voice, language or speaker unknown, names known
 *   voices), ENGINE_UNAVAILABLE, ENGINE_FAILED (HTTP error, dropped connection), ENGINE_BAD_RESPONSE
 *   (not WAV), or the abort error.
 */
export function createPiperHttpEngine(opts: PiperHttpEngineOptions): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });
  const cache = createVoiceCache(async (signal) => {
    const voices = await getJson(name, joinUrl(opts.url, '/voices'), PiperVoicesSchema, withTimeout(signal));
    return Object.entries(voices).map(([id, config]) => piperVoice(id, config));
  });

  const pickVoice = async (request: SynthesisRequest, signal: AbortSignal): Promise<Voice | undefined> => {
    const wanted = request.voice ?? (request.language ? undefined : opts.voice);
    const language = request.language ?? opts.language;
    if (wanted) {
      const voice = await findVoice(cache, wanted, signal);
      if (!voice)
        throw voiceNotFound(
          name,
          `voice '${wanted}'`,
          (await cache.get(signal)).map((v) => v.name),
        );
      return voice;
    }
    if (!language) return undefined;
    const voices = await cache.get(signal);
    const voice = voiceForLanguage(voices, language);
    if (!voice) {
      throw voiceNotFound(
        name,
        `a voice for language '${language}'`,
        voices.map((v) => `${v.name} (${v.languages.join('/')})`),
      );
    }
    return voice;
  };

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = await pickVoice(request, signal);
    const speaker = piperSpeaker(request.speaker ?? opts.speaker);
    if (speaker && 'name' in speaker && voice?.speakers && !voice.speakers.includes(speaker.name)) {
      throw voiceNotFound(name, `speaker '${speaker.name}' of voice '${voice.name}'`, voice.speakers);
    }
    const body = {
      text: request.text,
      ...(voice ? { voice: voice.name } : {}),
      ...(speaker && 'id' in speaker ? { speaker_id: speaker.id } : {}),
      ...(speaker && 'name' in speaker ? { speaker: speaker.name } : {}),
    };
    log.debug({ voice: voice?.name, chars: request.text.length }, 'piper http synthesize');
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
    yield* fetchWav(name, joinUrl(opts.url, '/synthesize'), init, signal);
  }

  return {
    name,
    type: 'piper',
    synthesize,
    voices: (signal) => cache.get(signal),
    probe: (signal) => probeHealth(() => cache.refresh(signal)),
  };
}
