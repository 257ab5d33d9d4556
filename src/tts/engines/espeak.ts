import type { AudioChunk } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import type { Engine, EngineHealth, SynthesisRequest, Voice } from '../engine.js';
import { decodeWav } from './audio-source.js';
import { runCliOnce, streamCli } from './cli-process.js';
import { probeHealth, splitCommand, voiceNotFound } from './engine-errors.js';
import { createEspeakServers, type EspeakServers } from './espeak-server.js';
import { createVoiceCache, normalizeLanguage } from './voice-list.js';

/**
 * espeak-ng, the embedded default engine. `espeak-ng --stdout` writes a WAV (22050 Hz, s16le, mono) whose
 * header claims a bogus size when streaming to a pipe, so the WAV is parsed as it arrives and the size is
 * ignored. Voices come from `espeak-ng --voices` (columns: Pty, Language, Age/Gender, VoiceName, File,
 * Other Languages). Source: espeak-ng `src/espeak-ng.c` and `docs/mkvoice.md`; checked against 1.51.
 * With the default command, says go to warm espeak-ng processes (espeak-server.ts: libespeak-ng loaded once,
 * the CLI's synthesis settings) instead of one `espeak-ng` process each.
 */

/** Options of {@link createEspeakEngine}. */
export interface EspeakEngineOptions {
  name: string;
  /** Default voice identifier (`en`, `en-us`, `de`, or with a variant: `en+f3`). */
  voice?: string;
  /** Default language when no voice is given; picks a voice like a request's `language`. */
  language?: string;
  log: Log;
  /** Executable and fixed arguments; default `espeak-ng`. */
  command?: string;
  /**
   * Speak through warm espeak-ng processes (espeak-server.ts) instead of one `espeak-ng` per say; default true
   * unless `command` is set (a custom command is always run as given). Falls back to the CLI, with a warning,
   * when no warm process can start here.
   */
  warm?: boolean;
  /** The Python interpreter of the warm processes; default `python3`. */
  python?: string;
}

/** Voice used when neither request nor options name a voice or a language. */
export const ESPEAK_DEFAULT_VOICE = 'en';

/**
 * Parses `espeak-ng --voices` output into voices named by their language identifier (what `-v` takes).
 * `languages` holds the identifier and the "Other Languages" entries; `description` the VoiceName.
 */
export function parseEspeakVoices(text: string): Voice[] {
  const voices: Voice[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [, language, , voiceName] = cols;
    if (!language || !voiceName || cols.length < 5) continue;
    const others = [...line.matchAll(/\(([^\s()]+) \d+\)/g)].map((m) => m[1] ?? '');
    voices.push({
      name: language,
      languages: [language, ...others.filter((o) => o && o !== language)],
      description: voiceName.replaceAll('_', ' '),
    });
  }
  return voices;
}

/**
 * Picks the espeak voice for a language tag: an exact identifier, else the first voice listing the tag
 * among its languages, else the tag's primary subtag (`de-AT` → `de`). Undefined when nothing fits.
 */
export function voiceForLanguage(voices: Voice[], language: string): string | undefined {
  const tag = normalizeLanguage(language);
  const exact = voices.find((v) => v.name === tag) ?? voices.find((v) => v.languages.includes(tag));
  if (exact) return exact.name;
  const primary = tag.split('-')[0] ?? tag;
  return primary !== tag ? voiceForLanguage(voices, primary) : undefined;
}

/**
 * Resolves a requested voice against the list: an identifier (case-insensitive), optionally with a
 * `+variant`, or a VoiceName such as `English_(America)`. Returns the `-v` argument.
 */
export function resolveEspeakVoice(voices: Voice[], requested: string): string | undefined {
  const [base = '', variant] = requested.trim().split('+', 2);
  const wanted = normalizeLanguage(base);
  const byName =
    voices.find((v) => v.name === wanted) ??
    voices.find((v) => v.description?.toLowerCase() === base.toLowerCase().replaceAll('_', ' '));
  if (!byName) return undefined;
  return variant ? `${byName.name}+${variant}` : byName.name;
}

/** One `espeak-ng --stdout` process for `text`, its WAV parsed as it arrives. */
async function* speakCli(
  name: string,
  argv0: string[],
  voice: string,
  text: string,
  signal: AbortSignal,
): AsyncGenerator<AudioChunk> {
  // --stdin reads the whole text as one utterance (without it espeak-ng speaks line by line);
  // -b 1: UTF-8 input. The text never becomes an argument, so a leading '-' is harmless.
  const argv = [...argv0, '--stdout', '--stdin', '-b', '1', '-v', voice];
  yield* decodeWav(name, streamCli({ engine: name, argv, stdinText: text }, signal));
}

/**
 * Creates the espeak-ng engine. Voice choice: request `voice`, else a voice for request `language`, else
 * the options' `voice`, else a voice for the options' `language`, else `en`.
 * `synthesize` yields 22050 Hz s16le mono chunks as espeak-ng writes them; aborting kills espeak-ng (the
 * process serving the request, warm or not).
 * @throws (from synthesize) AppError VOICE_NOT_FOUND (names known voices), ENGINE_UNAVAILABLE (espeak-ng
 *   not installed), ENGINE_FAILED (non-zero exit, stderr tail), ENGINE_BAD_RESPONSE (not a WAV), or the
 *   abort error (ENGINE_TIMEOUT for a timeout signal).
 */
export function createEspeakEngine(opts: EspeakEngineOptions): Engine {
  const name = opts.name;
  const argv0 = splitCommand(opts.command ?? 'espeak-ng');
  const log = opts.log.child({ engine: name });
  // A failed listing is not cached, so the next call tries again.
  const cache = createVoiceCache((signal) =>
    runCliOnce(name, [...argv0, '--voices'], { signal }).then(parseEspeakVoices),
  );
  const voices = (signal?: AbortSignal): Promise<Voice[]> => cache.get(signal);

  const pickVoice = async (request: SynthesisRequest, signal: AbortSignal): Promise<string> => {
    const list = await voices(signal);
    if (request.voice) {
      return resolveEspeakVoice(list, request.voice) ?? throwNotFound(`voice '${request.voice}'`);
    }
    if (request.language) {
      return voiceForLanguage(list, request.language) ?? throwNotFound(`language '${request.language}'`);
    }
    if (opts.voice) return resolveEspeakVoice(list, opts.voice) ?? throwNotFound(`voice '${opts.voice}'`);
    if (opts.language) {
      return voiceForLanguage(list, opts.language) ?? throwNotFound(`language '${opts.language}'`);
    }
    return ESPEAK_DEFAULT_VOICE;
    function throwNotFound(what: string): never {
      throw voiceNotFound(
        name,
        what,
        list.map((v) => v.name),
      );
    }
  };

  let servers: EspeakServers | undefined =
    (opts.warm ?? opts.command === undefined)
      ? createEspeakServers({ engine: name, ...(opts.python ? { python: opts.python } : {}) })
      : undefined;

  /** Through a warm process; through the CLI (from then on) when none can start here. */
  async function* viaServer(voice: string, text: string, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const warm = servers;
    if (!warm) {
      yield* speakCli(name, argv0, voice, text, signal);
      return;
    }
    const it = warm.synthesize(voice, text, signal);
    let first: IteratorResult<AudioChunk>;
    try {
      first = await it.next();
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'ENGINE_UNAVAILABLE') || signal.aborted) throw err;
      log.warn({ err: err.message }, 'warm espeak-ng unavailable; running espeak-ng per request');
      servers = undefined;
      yield* speakCli(name, argv0, voice, text, signal);
      return;
    }
    if (first.done) return;
    yield first.value;
    yield* it;
  }

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = await pickVoice(request, signal);
    log.debug({ voice, chars: request.text.length }, 'espeak synthesize');
    yield* viaServer(voice, request.text, signal);
  }

  const probe = (signal?: AbortSignal): Promise<EngineHealth> =>
    probeHealth(() => runCliOnce(name, [...argv0, '--version'], { signal }));

  return { name, type: 'espeak', textMode: 'per-sentence', synthesize, voices, probe };
}
