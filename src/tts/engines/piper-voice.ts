import { z } from 'zod';
import type { Voice } from '../engine.js';

/**
 * A Piper voice's config (`<voice>.onnx.json`), as piper1-gpl `src/piper/config.py` reads it and
 * `src/piper/http_server.py` `GET /voices` returns it (`{"<voice id>": <config>, …}`). Only the fields the
 * hub uses are checked; the rest pass through.
 */
export const PiperVoiceConfigSchema = z.looseObject({
  audio: z.looseObject({ sample_rate: z.number().int().positive() }),
  language: z.looseObject({ code: z.string() }).optional(),
  espeak: z.looseObject({ voice: z.string() }).optional(),
  num_speakers: z.number().int().nonnegative().default(1),
  speaker_id_map: z.record(z.string(), z.number().int()).default({}),
});
/** The parsed voice config. */
export type PiperVoiceConfig = z.infer<typeof PiperVoiceConfigSchema>;

/** The answer of piper1-gpl `GET /voices`. */
export const PiperVoicesSchema = z.record(z.string(), PiperVoiceConfigSchema);

/** A hub Voice from a Piper voice id and its config: languages from `language.code` (else the espeak voice). */
export function piperVoice(id: string, config: PiperVoiceConfig): Voice {
  const language = config.language?.code ?? config.espeak?.voice;
  const speakers = Object.keys(config.speaker_id_map);
  return {
    name: id,
    languages: language ? [language] : [],
    ...(config.num_speakers > 1 && speakers.length > 0 ? { speakers } : {}),
  };
}

/**
 * How a request's speaker goes to Piper: a number is a speaker id, anything else a speaker name.
 * Returns undefined for no speaker.
 */
export function piperSpeaker(speaker: string | undefined): { id: number } | { name: string } | undefined {
  if (speaker === undefined || speaker === '') return undefined;
  return /^\d+$/.test(speaker) ? { id: Number(speaker) } : { name: speaker };
}
