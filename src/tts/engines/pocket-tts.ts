import { openAsBlob } from 'node:fs';
import { z } from 'zod';
import type { AudioChunk } from '../../audio/format.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { decodeWav, fetchWav } from './audio-source.js';
import { runCliOnce, streamCli } from './cli-process.js';
import { probeHealth, splitCommand, voiceNotFound } from './engine-errors.js';
import { getJson, joinUrl, withTimeout } from './http-client.js';
import { fileVoiceRow, type PocketVoice, scanPocketVoices, VOICE_URL } from './pocket-voices.js';
import { createVoiceCache } from './voice-list.js';

/**
 * Kyutai pocket-tts. Source: kyutai-labs/pocket-tts `pocket_tts/main.py`, `pocket_tts/data/audio.py`,
 * `pocket_tts/utils/utils.py`, `pocket_tts/default_parameters.py`:
 * - `pocket-tts serve` (default localhost:8000): `POST /tts` form fields `text`, `voice_url` (a built-in
 *   voice name, or an http://, https:// or hf:// URL) or an uploaded `voice_wav` (any voice file: the server
 *   keeps the upload's file-name suffix, so `x.safetensors` loads as an exported state and `x.wav` is read
 *   as a 16-bit PCM prompt, truncated to 30 s) → a chunked WAV
 *   (24 kHz, 16-bit, mono) whose header claims 1e9 frames (about 2 GB) and is never patched, ending with
 *   0.2 s of silence. `GET /health` → `{"status": "healthy"}`.
 * - `pocket-tts generate --text - --output-path -`: text on stdin, the same streamed WAV on stdout, logs
 *   on stderr; `--voice` a built-in name, a URL, or a local path (`.safetensors` state or audio); `-q` quiet.
 * Voices from files (`<share>/voices/pocket-tts/`, with manifest.json) are in pocket-voices.ts.
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
  /** Default voice: a built-in name (`alba`…), a voice id from the voices folder, or a URL (http, https, hf). */
  voice?: string;
  /** The voices folder (`<share>/voices/pocket-tts`); absent: built-in voices and URLs only. */
  voicesDir?: string;
  log: Log;
}

/** A resolved voice: sent as `voice_url` / `--voice` text, or a file from the voices folder. */
type PocketVoiceChoice = { name: string } | { file: PocketVoice };

const BUILT_IN = new Set(POCKET_TTS_VOICES.map((v) => v.name));

/**
 * The voice list of an engine: built-ins, then the voices folder's (re-read when a name is not found, so a file
 * dropped in works without a restart), and the resolution of a requested name.
 */
function pocketVoices(engine: string, opts: PocketTtsEngineOptions) {
  let files: PocketVoice[] = [];
  const cache = createVoiceCache(async () => {
    if (opts.voicesDir) files = (await scanPocketVoices(opts.voicesDir, BUILT_IN, opts.log)).voices;
    return [...POCKET_TTS_VOICES, ...files.map(fileVoiceRow)];
  });
  return {
    list: (signal?: AbortSignal) => cache.get(signal),
    /**
     * The voice to send for `requested` (undefined: pocket-tts's default).
     * @throws AppError VOICE_NOT_FOUND naming the known voices.
     */
    async resolve(requested: string | undefined): Promise<PocketVoiceChoice | undefined> {
      if (requested === undefined) return undefined;
      if (VOICE_URL.test(requested) || BUILT_IN.has(requested)) return { name: requested };
      await cache.get();
      let hit = files.find((f) => f.id === requested);
      if (!hit && opts.voicesDir) {
        await cache.refresh();
        hit = files.find((f) => f.id === requested);
      }
      if (hit) return { file: hit };
      pocketTtsVoice(
        engine,
        requested,
        files.map((f) => f.id),
      ); // throws VOICE_NOT_FOUND
      return { name: requested };
    },
  };
}

/**
 * The voice to send, checked: a built-in name or a URL passes; anything else (a file id not in `fileIds`, a
 * path) is VOICE_NOT_FOUND. Undefined means pocket-tts's own default.
 */
export function pocketTtsVoice(
  engine: string,
  requested: string | undefined,
  fileIds: readonly string[] = [],
): string | undefined {
  if (requested === undefined) return undefined;
  if (VOICE_URL.test(requested) || BUILT_IN.has(requested) || fileIds.includes(requested)) {
    return requested;
  }
  throw voiceNotFound(engine, `voice '${requested}'`, [
    ...POCKET_TTS_VOICES.map((v) => v.name),
    ...fileIds,
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
  const voices = pocketVoices(name, opts);

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = await voices.resolve(request.voice ?? opts.voice);
    const form = new FormData();
    form.set('text', request.text);
    // A voice file goes up as `voice_wav` under its own name: the server keeps the suffix to tell a
    // .safetensors state from an audio prompt (pocket_tts/main.py text_to_speech).
    if (voice && 'file' in voice && voice.file.path) {
      form.set('voice_wav', await openAsBlob(voice.file.path), voice.file.file);
    } else if (voice) {
      form.set('voice_url', 'file' in voice ? (voice.file.url as string) : voice.name);
    }
    log.debug({ voice: request.voice ?? opts.voice, chars: request.text.length }, 'pocket-tts synthesize');
    yield* fetchWav(name, joinUrl(opts.url, '/tts'), { method: 'POST', body: form }, signal);
  }

  const health = z.object({ status: z.literal('healthy') });
  return pocketEngine(name, voices, synthesize, (signal) =>
    probeHealth(() => getJson(name, joinUrl(opts.url, '/health'), health, withTimeout(signal))),
  );
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
  const voices = pocketVoices(name, opts);

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const choice = await voices.resolve(request.voice ?? opts.voice);
    // A file voice is passed by its path: `--voice` takes a built-in name, a URL or a local file.
    const voice = choice && ('file' in choice ? (choice.file.path ?? choice.file.url) : choice.name);
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

  return pocketEngine(name, voices, synthesize, (signal) =>
    probeHealth(() => runCliOnce(name, [...base.filter((a) => a !== 'generate'), '--help'], { signal })),
  );
}

/** The Engine of either pocket-tts front (server or CLI): whole texts only (the model has no sentence mode). */
function pocketEngine(
  name: string,
  voices: { list(signal?: AbortSignal): Promise<Voice[]> },
  synthesize: Engine['synthesize'],
  probe: Engine['probe'],
): Engine {
  return {
    name,
    type: 'pocket_tts',
    textMode: 'whole-text',
    synthesize,
    voices: (signal) => voices.list(signal),
    probe,
  };
}
