import type { AudioChunk } from '../audio/format.js';

/**
 * A voice an engine offers: its name, languages, and named speakers if it has several. Voices from files (the
 * pocket-tts voices folder) also carry their manifest fields: file, source, licence, and warnings to fix.
 */
export interface Voice {
  name: string;
  languages: string[];
  speakers?: string[];
  description?: string;
  /** The voice file (or URL) a voice from the voices folder uses. */
  file?: string;
  /** Where the voice comes from, as the manifest says; null: not said. */
  source?: string | null;
  /** The voice's licence, as the manifest says; null: no licence entry (then `warnings` says so). */
  licence?: string | null;
  /** Problems the user should fix (no licence entry, a prompt the engine reads badly). */
  warnings?: string[];
}

/**
 * Request priority as engines queue by it: `high` goes ahead of queued `normal` work (and, on the say side,
 * interrupts a target). Defined here so the engine side never depends on the say service.
 */
export type Priority = 'normal' | 'high';

/**
 * How an engine wants its text (a property of the engine, set by its factory):
 * - `per-sentence`: one request per sentence. Lowers the time to first audio for engines that answer a request
 *   with one whole file, and lets sentences be reused from the phrase cache. Wyoming services (wyoming-piper)
 *   are asked this way too: wyoming-piper 2.x keeps the voice loaded and a LAN connection costs about a ms.
 * - `whole-text`: one request for the whole text, for engines that already stream audio sentence by sentence
 *   and pay a start-up per request (Piper's CLI loads the voice on every run; XTTS streaming; pocket-tts).
 */
export type TextMode = 'per-sentence' | 'whole-text';

/** What an engine is asked to speak. Text is already validated and normalized. */
export interface SynthesisRequest {
  text: string;
  voice?: string;
  speaker?: string;
  language?: string;
}

/** An engine's health as last probed. */
export interface EngineHealth {
  healthy: boolean;
  /** ms since epoch of the last probe; 0 before the first. */
  checkedAt: number;
  error?: string;
  /** The error's code (ENGINE_MISCONFIGURED: a missing command or model the user must fix). */
  code?: string;
}

/**
 * A TTS engine. `synthesize` yields PCM chunks with their AudioFormat as they arrive from the engine,
 * so encoding can overlap synthesis. Aborting `signal` stops the engine (closes sockets, kills children)
 * and the iterator throws the abort reason.
 *
 * @throws AppError ENGINE_UNAVAILABLE (cannot connect), ENGINE_FAILED (engine reported an error or died),
 *   ENGINE_BAD_RESPONSE (garbage on the wire), VOICE_NOT_FOUND.
 */
export interface Engine {
  /** The configured name (`engines[].name`), unique. */
  readonly name: string;
  /** The engine type (`espeak`, `piper`, `xtts`, `pocket_tts`, `wyoming`, `openai`). */
  readonly type: string;
  /** How the say service hands this engine its text (see {@link TextMode}); absent: `per-sentence`. */
  readonly textMode?: TextMode;
  synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncIterable<AudioChunk>;
  /** Lists voices; may be cached by the implementation. */
  voices(signal?: AbortSignal): Promise<Voice[]>;
  /** Probes the engine (describe, health endpoint, CLI version). Resolves healthy or not; never throws. */
  probe(signal?: AbortSignal): Promise<EngineHealth>;
}
