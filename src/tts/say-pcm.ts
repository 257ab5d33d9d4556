/**
 * Speech as raw PCM through the say service (cache and fallback included), for outputs that want samples rather
 * than a file: the Wyoming TTS server. The say service produces (or finds) the cached Ogg Opus; ffmpeg decodes it
 * to s16le mono at `rateHz` as a stream.
 */

import { runFfmpeg } from '../audio/ffmpeg.js';
import type { AudioChunk, AudioFormat } from '../audio/format.js';
import { ffmpegInput } from '../audio/source.js';
import type { CacheStore } from '../cache/store.js';
import { AppError } from '../shared/errors.js';
import type { WyomingProgramInfo, WyomingTtsProvider } from '../wyoming/server.js';
import type { WyomingVoiceChoice } from '../wyoming/tts.js';
import type { Dispatcher } from './dispatcher.js';
import { type RequestDefaults, toSayRequest } from './say-request.js';
import type { SayService } from './say-service.js';

/** Sample rate of decoded PCM, in Hz (16-bit mono). */
export const PCM_RATE_HZ = 22_050;

/**
 * Says `body` (a `tts/say`-shaped object, format forced to opus) and yields its audio as PCM chunks.
 * Aborting `signal` cancels the say or kills ffmpeg; the iterator throws the abort reason.
 * @throws everything `say` throws; AppError CACHE_IO when the entry left the cache; FFMPEG_FAILED.
 */
export async function* sayPcm(
  deps: { sayService: SayService; cache: CacheStore; maxTextChars: number; defaults?: RequestDefaults },
  body: Record<string, unknown>,
  signal: AbortSignal,
  rateHz = PCM_RATE_HZ,
): AsyncGenerator<AudioChunk, void, undefined> {
  const request = toSayRequest({ ...body, format: 'opus' }, deps.maxTextChars, deps.defaults);
  const result = await deps.sayService.say(request, signal);
  const entry = deps.cache.get(result.key, result.format);
  if (!entry) throw new AppError('CACHE_IO', 'the audio left the cache before it was decoded; try again');
  const format: AudioFormat = { rateHz, widthBytes: 2, channels: 1 };
  const input = ffmpegInput(entry);
  const proc = runFfmpeg(
    [...input.args, '-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(rateHz), '-ac', '1', 'pipe:1'],
    signal,
  );
  proc.stdin.end(input.stdin);
  let carry: Buffer = Buffer.alloc(0);
  for await (const piece of proc.stdout as AsyncIterable<Buffer>) {
    const bytes = carry.length ? Buffer.concat([carry, piece]) : piece;
    const whole = bytes.length - (bytes.length % 2);
    carry = bytes.subarray(whole);
    if (whole > 0) yield { format, pcm: bytes.subarray(0, whole) };
  }
  await proc.done;
}

/**
 * The Wyoming TTS provider over the say service: one program per engine (named like it) with the engine's
 * voices; an engine without a voice list announces one voice named like the engine. A requested voice name
 * selects the first engine that has it; an unknown or absent name uses the default engine and its voice.
 */
export function createSayTtsProvider(deps: {
  sayService: SayService;
  dispatcher: Dispatcher;
  cache: CacheStore;
  maxTextChars: number;
  /** Clean-up of the text Home Assistant sends (`text.clean`, `text.urls`). */
  defaults?: RequestDefaults;
  version: string;
}): WyomingTtsProvider {
  let last: WyomingProgramInfo[] = [];
  const programs = async (signal: AbortSignal): Promise<WyomingProgramInfo[]> => {
    last = await Promise.all(
      deps.dispatcher.entries.map(async (entry) => {
        const voices = await entry.engine.voices(signal).catch(() => []);
        return {
          name: entry.engine.name,
          description: `${entry.engine.type} via TTS Hub`,
          version: deps.version,
          voices: voices.length
            ? voices.map((v) => ({
                name: v.name,
                description: v.description ?? null,
                languages: v.languages,
                speakers: v.speakers?.length ? v.speakers.map((name) => ({ name })) : null,
              }))
            : [{ name: entry.engine.name, description: null, languages: [], speakers: null }],
        };
      }),
    );
    return last;
  };
  const route = async (
    voice: WyomingVoiceChoice | undefined,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> => {
    if (!voice?.name) return voice?.language ? { language: voice.language } : {};
    const known = last.length ? last : await programs(signal);
    for (const p of known) {
      if (p.name === voice.name && p.voices.length === 1 && p.voices[0]?.name === p.name)
        return { engine: p.name };
      if (p.voices.some((v) => v.name === voice.name)) {
        return { engine: p.name, voice: voice.name, ...(voice.speaker ? { speaker: voice.speaker } : {}) };
      }
    }
    return {};
  };
  return {
    programs,
    async *synthesize(text, voice, signal) {
      const fields = await route(voice, signal);
      yield* sayPcm(deps, { text, ...fields }, signal);
    },
  };
}
