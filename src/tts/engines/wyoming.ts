/**
 * A TTS engine reached over the Wyoming protocol: wyoming-piper (type `piper`, transport `wyoming`, port 10200)
 * or any other Wyoming TTS service (type `wyoming`). Protocol in `src/wyoming/` (OHF-Voice/wyoming).
 */
import type { AudioChunk } from '../../audio/format.js';
import { AppError, isAppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import { createWyomingPool } from '../../wyoming/pool.js';
import { describeTts, synthesizeTts, type WyomingVoiceChoice } from '../../wyoming/tts.js';
import type { Engine, EngineHealth, SynthesisRequest, Voice } from '../engine.js';
import { errorMessage } from './engine-errors.js';

/** How to build a Wyoming engine. Durations in ms. */
export interface WyomingEngineOptions {
  /** The configured engine name (`engines[].name`). */
  name: string;
  /** `piper` for wyoming-piper, `wyoming` for any other Wyoming TTS service. */
  type: 'piper' | 'wyoming';
  /** `tcp://host:port`. */
  url: string;
  /** Default voice name when a request names none; else the service's default. */
  voice?: string;
  /** Default speaker of a multi-speaker voice. */
  speaker?: string;
  /** Default language, used only when no voice name is known. */
  language?: string;
  log: Log;
  /** Connect timeout for synthesis; default 5000. */
  connectTimeoutMs?: number;
  /** Deadline of `probe()` (describe round trip); default 3000. */
  probeTimeoutMs?: number;
  /** How long `voices()` reuses the last describe; default 60000. */
  voicesCacheMs?: number;
}

/**
 * Maps what the Wyoming layer throws to the engine codes: WYOMING_PROTOCOL → ENGINE_BAD_RESPONSE; other
 * AppErrors keep their code (ENGINE_UNAVAILABLE, ENGINE_FAILED); anything else → ENGINE_FAILED. When `signal`
 * is aborted its reason is returned unchanged, as the Engine contract asks.
 */
function toEngineError(err: unknown, engine: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (isAppError(err, 'WYOMING_PROTOCOL')) {
    return new AppError('ENGINE_BAD_RESPONSE', `engine '${engine}': ${err.message}`, {
      cause: err,
      details: err.details,
    });
  }
  if (isAppError(err)) return err;
  return new AppError('ENGINE_FAILED', `engine '${engine}' failed: ${errorMessage(err)}`, { cause: err });
}

/**
 * Creates a Wyoming TTS engine. `synthesize` sends one `synthesize` per request on a warm connection (an idle
 * one of an earlier request, kept up to WYOMING_IDLE_MS; else a new one) and yields each `audio-chunk` as it
 * arrives (never the whole utterance); aborting closes that socket at once. `voices()` comes from
 * `describe` and is cached for `voicesCacheMs`; `probe()` is a describe with a short deadline and never throws.
 * No connection is made until the first call.
 */
export function createWyomingEngine(opts: WyomingEngineOptions): Engine {
  const log = opts.log.child({ engine: opts.name });
  const probeTimeoutMs = opts.probeTimeoutMs ?? 3000;
  const voicesCacheMs = opts.voicesCacheMs ?? 60_000;
  let cached: { voices: Voice[]; atMs: number } | undefined;
  // Warm connections: each sentence's `synthesize` reuses an idle connection of an earlier one (pool.ts).
  const pool = createWyomingPool(opts.url);

  async function describeVoices(signal: AbortSignal | undefined, timeoutMs: number): Promise<Voice[]> {
    const info = await describeTts(opts.url, signal, { timeoutMs });
    const voices = info.tts.flatMap((program) =>
      program.voices.map(
        (v): Voice => ({
          name: v.name,
          languages: v.languages,
          ...(v.speakers.length > 0 ? { speakers: v.speakers } : {}),
          ...(v.description !== undefined ? { description: v.description } : {}),
        }),
      ),
    );
    cached = { voices, atMs: Date.now() };
    return voices;
  }

  return {
    name: opts.name,
    type: opts.type,
    textMode: 'per-sentence',

    async *synthesize(
      request: SynthesisRequest,
      signal: AbortSignal,
    ): AsyncGenerator<AudioChunk, void, undefined> {
      const voice: WyomingVoiceChoice = {
        name: request.voice ?? opts.voice,
        speaker: request.speaker ?? opts.speaker,
        language: request.language ?? opts.language,
      };
      const startedMs = Date.now();
      let bytes = 0;
      try {
        for await (const chunk of synthesizeTts(opts.url, request.text, voice, signal, {
          connectTimeoutMs: opts.connectTimeoutMs,
          pool,
        })) {
          bytes += chunk.pcm.length;
          yield chunk;
        }
      } catch (err) {
        throw toEngineError(err, opts.name, signal);
      }
      log.debug(
        { voice: voice.name, chars: request.text.length, bytes, ms: Date.now() - startedMs },
        'synthesized',
      );
    },

    async voices(signal?: AbortSignal): Promise<Voice[]> {
      if (cached !== undefined && Date.now() - cached.atMs < voicesCacheMs) return cached.voices;
      try {
        return await describeVoices(signal, 5000);
      } catch (err) {
        throw toEngineError(err, opts.name, signal);
      }
    },

    async probe(signal?: AbortSignal): Promise<EngineHealth> {
      try {
        await describeVoices(signal, probeTimeoutMs);
        return { healthy: true, checkedAt: Date.now() };
      } catch (err) {
        const message = errorMessage(err);
        log.debug({ err: message }, 'probe failed');
        return { healthy: false, checkedAt: Date.now(), error: message };
      }
    },
  };
}
