import { z } from 'zod';
import { type AudioChunk, type AudioFormat, OPENAI_PCM_RATE_HZ } from '../../audio/format.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { decodeRawPcm, decodeWav } from './audio-source.js';
import { probeHealth } from './engine-errors.js';
import { getJson, httpReachable, httpRequest, joinUrl, responseBytes, withTimeout } from './http-client.js';
import { createVoiceCache } from './voice-list.js';

/**
 * Any OpenAI-style speech server (Kokoro-FastAPI, openedai-speech, LocalAI, coqui-tts ≥ 0.27 tts-server).
 * Sources: OpenAI's `POST /v1/audio/speech` API; remsky/Kokoro-FastAPI `api/src/routers/openai_compatible.py`
 * and `api/src/structures/schemas.py`; idiap/coqui-ai-TTS `TTS/server/server.py`:
 * - `POST /v1/audio/speech` JSON `{model, input, voice, response_format, speed}`. `wav` streams a WAV whose
 *   header may not know the length (read to the end); `pcm` is raw s16le mono at 24 kHz on OpenAI and
 *   Kokoro (coqui sends its model's rate, so `wav` is the default here).
 * - `GET /v1/audio/voices` (Kokoro) → `{voices: [{id, name}]}` or, legacy, `{voices: ["id", …]}`.
 * - `GET /v1/models` answers on OpenAI and Kokoro; used as the health check (any status below 500).
 */

/** Options of {@link createOpenAiEngine}. */
export interface OpenAiEngineOptions {
  name: string;
  /** Engine type reported (`openai`, or `xtts` for an XTTS behind an OpenAI-style server). */
  type?: 'openai' | 'xtts';
  /** Base URL with or without `/v1`, e.g. `http://127.0.0.1:8880` or `http://127.0.0.1:8880/v1`. */
  url: string;
  /** Default voice (e.g. `af_heart`); omitted from the request when not set (the server's default). */
  voice?: string;
  /** Language reported for the configured voice. */
  language?: string;
  /** `model` field; default `tts-1` (accepted by OpenAI, Kokoro and openedai-speech). */
  model?: string;
  /** `wav` (default) or `pcm` (24 kHz s16le mono). */
  responseFormat?: 'wav' | 'pcm';
  /** `speed` field, 0.25–4; omitted when not set. */
  speed?: number;
  log: Log;
}

/** OpenAI's `pcm` response format: 24 kHz, 16-bit, mono. */
export const OPENAI_PCM_FORMAT: AudioFormat = { rateHz: OPENAI_PCM_RATE_HZ, widthBytes: 2, channels: 1 };

const VoicesSchema = z.object({
  voices: z.array(z.union([z.string(), z.object({ id: z.string() })])),
});

/** The `/v1` base of a configured URL. */
export function openAiBase(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

/**
 * Creates the OpenAI-style engine. Voice: request `voice`, else the options'. The voice is not checked
 * here (servers accept combinations such as `af_sky+af_bella`); a server refusal is ENGINE_FAILED with
 * its message. `voices()` asks `/v1/audio/voices`, falling back to the configured voice.
 * @throws (from synthesize) AppError ENGINE_UNAVAILABLE, ENGINE_FAILED, ENGINE_BAD_RESPONSE, or the abort error.
 */
export function createOpenAiEngine(opts: OpenAiEngineOptions): Engine {
  const { name } = opts;
  const base = openAiBase(opts.url);
  const format = opts.responseFormat ?? 'wav';
  const log = opts.log.child({ engine: name });
  const configured: Voice[] = opts.voice
    ? [{ name: opts.voice, languages: opts.language ? [opts.language] : [] }]
    : [];
  const cache = createVoiceCache(async (signal) => {
    try {
      const { voices } = await getJson(
        name,
        joinUrl(base, '/audio/voices'),
        VoicesSchema,
        withTimeout(signal),
      );
      return voices.map((v): Voice => ({ name: typeof v === 'string' ? v : v.id, languages: [] }));
    } catch {
      return configured;
    }
  });

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = request.voice ?? opts.voice;
    const body = {
      model: opts.model ?? 'tts-1',
      input: request.text,
      ...(voice ? { voice } : {}),
      response_format: format,
      ...(opts.speed === undefined ? {} : { speed: opts.speed }),
    };
    log.debug({ voice, format, chars: request.text.length }, 'openai synthesize');
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
    const response = await httpRequest(name, joinUrl(base, '/audio/speech'), init, signal);
    const bytes = responseBytes(name, response, signal);
    yield* format === 'pcm' ? decodeRawPcm(name, OPENAI_PCM_FORMAT, bytes) : decodeWav(name, bytes);
  }

  return {
    name,
    type: opts.type ?? 'openai',
    synthesize,
    voices: (signal) => cache.get(signal),
    probe: (signal) => probeHealth(() => httpReachable(name, joinUrl(base, '/models'), withTimeout(signal))),
  };
}
