/**
 * Speaker presets from the options: a named target's options give requests to it their defaults: engine, voice,
 * chimes, offset and lead-in (the audio; merged by say/presets.ts) and format, media_content_type, volume and
 * announce (how it is played; applied by the sinks). A request's own fields win.
 */
import type { TargetOptions } from '../config/schema.js';
import type { AudioPreset } from '../say/presets.js';

/** The audio preset of a configured target (empty fields left out). */
export function audioPresetOf(t: TargetOptions): AudioPreset {
  const p: AudioPreset = {};
  if (t.engine) p.engine = t.engine;
  if (t.voice) p.voice = t.voice;
  if (t.chime !== undefined) p.chime = t.chime;
  if (t.chime_after !== undefined) p.chimeAfter = t.chime_after;
  if (t.offset_ms !== undefined) p.offsetMs = t.offset_ms;
  if (t.lead_in_ms !== undefined) p.leadInMs = t.lead_in_ms;
  return p;
}

/** Problems of targets' presets that can be checked at load: an engine that is not configured. */
export function presetProblems(targets: TargetOptions[], engineNames: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  targets.forEach((t, i) => {
    if (t.engine && !engineNames.has(t.engine)) {
      problems.push(
        `targets[${i}].engine: '${t.engine}' is not in engines[] (${[...engineNames].join(', ')})`,
      );
    }
  });
  return problems;
}
