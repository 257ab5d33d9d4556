import { z } from 'zod';
import type { AudioChunk } from '../../audio/format.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { decodeWav } from './audio-source.js';
import { runCliOnce, streamCli } from './cli-process.js';
import { probeHealth, splitCommand, voiceNotFound } from './engine-errors.js';
import { getJson, httpRequest, joinUrl, responseBytes, withTimeout } from './http-client.js';

/**
 * Kyutai pocket-tts. Source: kyutai-labs/pocket-tts `pocket_tts/main.py`, `pocket_tts/data/audio.py`,
 * `pocket_tts/utils/utils.py`, `pocket_tts/default_parameters.py`:
 * - `pocket-tts serve` (default localhost:8000): `POST /tts` form fields `text`, `voice_url` (a built-in
 *   voice name, or an http://, https:// or hf:// URL) or an uploaded `voice_wav` → a chunked WAV
 *   (24 kHz, 16-bit, mono) whose header claims 1e9 frames (about 2 GB) and is never patched, ending with
 *   0.2 s of silence. `GET /health` → `{"status": "healthy"}`.
 * - `pocket-tts generate --text - --output-path -`: text on stdin, the same streamed WAV on stdout, logs
 *   on stderr; `--voice` a built-in name or an audio file; `-q` quiet.
 */

/** Built-in voices (`_ORIGINS_OF_PREDEFINED_VOICES`) and the language each was recorded in. */
export const POCKET_TTS_VOICES: readonly Voice[] = [
  ...['alba', 'marius', 'javert', 'jean', 'fantine', 'cosette', 'eponine', 'azelma', 'anna', 'vera'],
  ...['charles', 'paul', 'george', 'mary', 'jane', 'michael', 'eve'],
  ...['bill_boerst', 'peter_yearsley', 'stuart_bell', 'caro_davy'],
]
  .map((n): Voice => ({ name: n, languages: ['en'] }))
  .concat([
    { name: 'giovanni', languages: ['it'] },
    { name: 'lola', languages: ['es'] },
    { name: 'juergen', languages: ['de'] },
    { name: 'rafael', languages: ['pt'] },
    { name: 'estelle', languages: ['fr'] },
  ]);

/** Options of both pocket-tts engines. */
export interface PocketTtsEngineOptions {
  name: string;
  /** Default voice: a built-in name (`alba`…) or a URL (http, https, hf); else pocket-tts's default. */
  voice?: string;
  log: Log;
}

/**
 * The voice to send, checked: request `voice`, else the options'. A built-in name or a URL passes;
 * anything else is VOICE_NOT_FOUND. Undefined means pocket-tts's own default.
 */
export function pocketTtsVoice(engine: string, requested: string | undefined): string | undefined {
  if (requested === undefined) return undefined;
  if (/^(https?|hf):\/\//.test(requested) || POCKET_TTS_VOICES.some((v) => v.name === requested)) {
    return requested;
  }
  throw voiceNotFound(engine, `voice '${requested}'`, [
    ...POCKET_TTS_VOICES.map((v) => v.name),
    'or an http(s)/hf URL',
  ]);
}

/**
 * Creates the pocket-tts HTTP engine (`pocket-tts serve`). `url` is the base, e.g. `http://127.0.0.1:8000`.
 * The chunked WAV is parsed as it arrives and read to its end (the header's size is a placeholder).
 * @throws (from synthesize) AppError VOICE_NOT_FOUND, ENGINE_UNAVAILABLE, ENGINE_FAILED,
 *   ENGINE_BAD_RESPONSE, or the abort error.
 */
export function createPocketTtsHttpEngine(opts: PocketTtsEngineOptions & { url: string }): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = pocketTtsVoice(name, request.voice ?? opts.voice);
    const form = new FormData();
    form.set('text', request.text);
    if (voice) form.set('voice_url', voice);
    log.debug({ voice, chars: request.text.length }, 'pocket-tts synthesize');
    const response = await httpRequest(
      name,
      joinUrl(opts.url, '/tts'),
      { method: 'POST', body: form },
      signal,
    );
    yield* decodeWav(name, responseBytes(name, response, signal));
  }

  const health = z.object({ status: z.literal('healthy') });
  return {
    name,
    type: 'pocket_tts',
    synthesize,
    voices: async () => [...POCKET_TTS_VOICES],
    probe: (signal) =>
      probeHealth(() => getJson(name, joinUrl(opts.url, '/health'), health, withTimeout(signal))),
  };
}

/**
 * Creates the pocket-tts CLI engine: one `pocket-tts generate --text - --output-path - -q [--voice V]` per
 * synthesis (`command` default `pocket-tts`; `generate` is added unless the command has it, so fixed
 * options such as `--language german_24l` can follow it). Aborting kills the process.
 * @throws (from synthesize) AppError VOICE_NOT_FOUND, ENGINE_UNAVAILABLE, ENGINE_FAILED,
 *   ENGINE_BAD_RESPONSE, or the abort error.
 */
export function createPocketTtsCliEngine(opts: PocketTtsEngineOptions & { command?: string }): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });
  const base = splitCommand(opts.command ?? 'pocket-tts');
  const generate = base.includes('generate') ? base : [...base, 'generate'];

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = pocketTtsVoice(name, request.voice ?? opts.voice);
    const argv = [
      ...generate,
      '--text',
      '-',
      '--output-path',
      '-',
      '-q',
      ...(voice ? ['--voice', voice] : []),
    ];
    log.debug({ voice, chars: request.text.length }, 'pocket-tts cli synthesize');
    yield* decodeWav(name, streamCli({ engine: name, argv, stdinText: request.text }, signal));
  }

  return {
    name,
    type: 'pocket_tts',
    synthesize,
    voices: async () => [...POCKET_TTS_VOICES],
    probe: (signal) =>
      probeHealth(() => runCliOnce(name, [...base.filter((a) => a !== 'generate'), '--help'], { signal })),
  };
}
