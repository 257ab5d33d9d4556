/**
 * Speech as raw PCM through the say service (cache and fallback included), for outputs that want samples rather
 * than a file: the Wyoming TTS server. The say is made as WAV, so its cache entry is PCM that a repeat reads
 * without decoding; a miss hands over the live job's PCM as the engine produces it (no decode either).
 */
import type { AudioChunk } from '../audio/format.js';
import { toSayRequest } from '../inputs/say-payload.js';
import type { RequestDefaults } from '../say/request.js';
import type { SayService } from '../say/service.js';
import { sayPcmOf } from '../say/stream.js';
import type { VoiceCatalog } from '../tts/voice-catalog.js';
import type { WyomingProgramInfo, WyomingTtsProvider } from './server.js';
import type { WyomingVoiceChoice } from './tts.js';

/** Name of the one TTS program the hub announces (Home Assistant names its TTS entity after it). */
export const PROGRAM_NAME = 'TTS Hub';

/**
 * Says `body` (a `tts/say`-shaped object; format forced to wav) and yields its PCM: the live job's while the
 * engine speaks, the cached WAV's on a hit. Aborting `signal` stops reading (and the synthesis, when nobody
 * else waits on it); the iterator throws the abort reason.
 * @throws everything `begin` and the say throw; AppError ENGINE_BAD_RESPONSE for a broken cached file.
 */
export async function* sayPcm(
  deps: { sayService: SayService; maxTextChars: number; defaults?: RequestDefaults },
  body: Record<string, unknown>,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk, void, undefined> {
  const request = toSayRequest({ ...body, format: 'wav' }, deps.maxTextChars, deps.defaults);
  const ticket = await deps.sayService.begin(request, signal);
  ticket.done.catch(() => {});
  yield* sayPcmOf(deps.sayService, ticket, signal);
  await ticket.done;
}

/**
 * The Wyoming TTS provider over the say service: one program, PROGRAM_NAME, that lists every engine's voices
 * (`<engine>:<voice>`, see voice-catalog.ts), because Home Assistant only ever uses the first installed TTS
 * program of a Wyoming service. A requested voice is routed to its engine; a bare voice name to the first
 * engine that has it; no voice (or an unknown one) uses the default engine and its voice; a language alone
 * picks the default engine's voice for it.
 */
export function createSayTtsProvider(deps: {
  sayService: SayService;
  voices: VoiceCatalog;
  /** Engine names in fallback order, for the program's description. */
  engineNames: readonly string[];
  maxTextChars: number;
  /** Clean-up of the text Home Assistant sends (`text.clean`, `text.urls`). */
  defaults?: RequestDefaults;
  version: string;
}): WyomingTtsProvider {
  const programs = async (signal: AbortSignal): Promise<WyomingProgramInfo[]> => {
    const voices = await deps.voices.list(signal);
    return [
      {
        name: PROGRAM_NAME,
        description: `Every engine of TTS Hub (${deps.engineNames.join(', ')}), with cache and fallback`,
        version: deps.version,
        voices: voices.map((v) => ({
          name: v.id,
          description: v.description,
          languages: v.languages,
          speakers: v.speakers.length ? v.speakers.map((name) => ({ name })) : null,
        })),
      },
    ];
  };
  const route = async (
    voice: WyomingVoiceChoice | undefined,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> => {
    if (!voice?.name) return voice?.language ? { language: voice.language } : {};
    const routed = await deps.voices.resolve(voice.name, signal);
    if (!routed.engine) return {};
    return { ...routed, ...(routed.voice && voice.speaker ? { speaker: voice.speaker } : {}) };
  };
  return {
    programs,
    async *synthesize(text, voice, signal) {
      const fields = await route(voice, signal);
      yield* sayPcm(deps, { text, ...fields }, signal);
    },
  };
}
