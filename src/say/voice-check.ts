/** The say service's check of a request's voice against the engine's list (before the cache is asked). */
import { AppError } from '../shared/errors.js';
import type { EngineEntry } from '../tts/dispatcher.js';

/** A voice name that could reach a file system path (`../../x.onnx`, `/tmp/x`, `a\\b`). */
export function looksLikePath(voice: string): boolean {
  return voice.includes('/') || voice.includes('\\') || voice.includes('..');
}

/**
 * Checks the request's voice against the engine's list. A voice that looks like a path is taken only when the
 * engine itself lists it (an engine that lists nothing, or cannot be asked, takes none): CLI engines pass the
 * voice to a model path argument.
 * @throws AppError VOICE_NOT_FOUND; the abort reason when `signal` aborts.
 */
export async function checkVoice(entry: EngineEntry, voice: string, signal: AbortSignal): Promise<void> {
  let voices: Array<{ name: string }> | undefined;
  try {
    voices = await entry.engine.voices(signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : err;
    voices = undefined; // The engine is unreachable: the fallback chain decides, not the voice list.
  }
  if (looksLikePath(voice) && !voices?.some((v) => v.name === voice)) {
    throw new AppError(
      'VOICE_NOT_FOUND',
      `voice '${voice.slice(0, 128)}' looks like a file path and engine '${entry.engine.name}' does not list it; name a voice the engine lists (GET /api/voices)`,
    );
  }
  if (voices === undefined || voices.length === 0 || voices.some((v) => v.name === voice)) return;
  const known = voices.slice(0, 20).map((v) => v.name);
  throw new AppError(
    'VOICE_NOT_FOUND',
    `voice '${voice}' not found on engine '${entry.engine.name}'; known voices: ${known.join(', ')}${voices.length > 20 ? ', …' : ''}`,
  );
}
