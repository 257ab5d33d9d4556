/**
 * Speaker presets in the say service's terms: the audio defaults a target gives a request (engine, voice, chimes,
 * offset, lead-in), merged under the request's own fields. Targets of one request whose audio presets differ
 * each get their own audio; those that agree share one.
 */
import type { SayAudio } from './audio.js';
import type { SayRequest } from './request.js';
import type { Delivery, PlannedTarget } from './types.js';

/** The audio part of a preset: what changes the sound, so targets that differ here get their own audio. */
export interface AudioPreset {
  engine?: string;
  voice?: string;
  chime?: string;
  chimeAfter?: string;
  offsetMs?: number;
  leadInMs?: number;
}

/** The preset fields that change the audio, in SayRequest terms. */
export const AUDIO_PRESET_FIELDS = [
  'engine',
  'voice',
  'chime',
  'chimeAfter',
  'offsetMs',
  'leadInMs',
] as const;

/** `request` with the preset's fields where the request has none of its own. */
export function withPreset(request: SayRequest, preset: AudioPreset): SayRequest {
  const out: SayRequest = { ...request };
  for (const field of AUDIO_PRESET_FIELDS) {
    const value = preset[field];
    if (value !== undefined && out[field] === undefined)
      (out as unknown as Record<string, unknown>)[field] = value;
  }
  return out;
}

/** The fields on which every preset agrees (set to the same value in all of them); one preset: itself. */
export function commonPreset(presets: AudioPreset[]): AudioPreset {
  const [first, ...rest] = presets;
  if (!first) return {};
  const out: AudioPreset = {};
  for (const field of AUDIO_PRESET_FIELDS) {
    const value = first[field];
    if (value !== undefined && rest.every((p) => p[field] === value))
      (out as Record<string, unknown>)[field] = value;
  }
  return out;
}

/** True when two requests make the same audio as far as presets go (same engine, voice, chimes and timing). */
export function sameAudio(a: SayRequest, b: SayRequest): boolean {
  return AUDIO_PRESET_FIELDS.every((f) => a[f] === b[f]);
}

/**
 * One delivery per target: the result's `audio` when the target's preset leaves the sound as `own` (the
 * request with what all targets agree on), else the target's own audio from `produce` (once per distinct
 * sound: targets whose presets agree with each other share it).
 * @param base the request with its `preset` applied, before any target's preset.
 */
export function planDeliveries(
  targets: PlannedTarget[],
  base: SayRequest,
  own: SayRequest,
  audio: SayAudio,
  produce: (request: SayRequest) => Promise<SayAudio>,
): Delivery[] {
  const variants = new Map<string, Promise<SayAudio>>();
  return targets.map((target) => {
    const wanted = withPreset(base, target.preset);
    if (sameAudio(wanted, own)) return { target, audio: Promise.resolve(audio), variant: false };
    const id = JSON.stringify(AUDIO_PRESET_FIELDS.map((f) => wanted[f] ?? null));
    let variant = variants.get(id);
    if (!variant) {
      variant = produce({ ...wanted, targets: [] });
      variant.catch(() => {}); // the target's delivery reports it
      variants.set(id, variant);
    }
    return { target, audio: variant, variant: true };
  });
}
