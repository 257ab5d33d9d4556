import { readdir, readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { AudioChunk, AudioFormat } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest, Voice } from '../engine.js';
import { decodeRawPcm } from './audio-source.js';
import { runCliOnce, streamCli } from './cli-process.js';
import { probeHealth, splitCommand, voiceNotFound } from './engine-errors.js';
import { type PiperVoiceConfig, PiperVoiceConfigSchema, piperSpeaker, piperVoice } from './piper-voice.js';
import { createVoiceCache, voiceForLanguage } from './voice-list.js';

/**
 * Piper as a command line (piper1-gpl `python -m piper`). Source: OHF-Voice/piper1-gpl `src/piper/__main__.py`:
 * `-m MODEL` (an .onnx path, or a voice id looked up as `<data dir>/<id>.onnx`), `--data-dir DIR`
 * (repeatable; default the working directory), `-s ID` speaker id, `--output-raw`: text on stdin, one
 * utterance per line, raw s16le mono PCM at the voice's rate on stdout as each sentence is ready.
 * Extra words on its command line become text, so the hub passes only known options.
 * The rate comes from the voice's `<model>.onnx.json` (`audio.sample_rate`).
 */

/** Options of {@link createPiperCliEngine}. */
export interface PiperCliEngineOptions {
  name: string;
  /** Executable and fixed arguments, e.g. `python3 -m piper --data-dir /share/piper`. Default `python3 -m piper`. */
  command?: string;
  /** Default voice: a path to an .onnx file, or a voice id in a `--data-dir` of the command. */
  voice?: string;
  /** Default speaker (name or id) for multi-speaker voices. */
  speaker?: string;
  /** Default language; picks a voice when no voice is named. */
  language?: string;
  log: Log;
}

/** A voice found on disk: its id, model path and parsed config. */
interface LocalVoice {
  voice: Voice;
  modelPath: string;
  config: PiperVoiceConfig;
}

/** The `--data-dir` values in a piper command line, resolved; the working directory is always searched too. */
export function piperDataDirs(argv: readonly string[]): string[] {
  const dirs: string[] = [];
  argv.forEach((arg, i) => {
    const eq = /^--data[-_]dir=(.+)$/.exec(arg);
    if (eq?.[1]) dirs.push(eq[1]);
    else if ((arg === '--data-dir' || arg === '--data_dir') && argv[i + 1]) dirs.push(argv[i + 1] as string);
  });
  return [...dirs, process.cwd()].map((d) => resolve(d));
}

async function loadLocalVoice(modelPath: string): Promise<LocalVoice | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(`${modelPath}.json`, 'utf8'));
  } catch {
    return undefined;
  }
  const parsed = PiperVoiceConfigSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const id = basename(modelPath).replace(/\.onnx$/, '');
  return { voice: piperVoice(id, parsed.data), modelPath, config: parsed.data };
}

async function scanDataDirs(dirs: readonly string[], extra: string | undefined): Promise<LocalVoice[]> {
  const paths = extra?.endsWith('.onnx') ? [resolve(extra)] : [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    paths.push(...names.filter((n) => n.endsWith('.onnx')).map((n) => join(dir, n)));
  }
  const found = await Promise.all([...new Set(paths)].map(loadLocalVoice));
  const byId = new Map<string, LocalVoice>();
  for (const v of found) if (v && !byId.has(v.voice.name)) byId.set(v.voice.name, v);
  return [...byId.values()];
}

/**
 * Creates the Piper CLI engine. Voice: request `voice`, else one for request `language`, else the options'
 * voice, else one for the options' language, else the first voice found. Each synthesis starts one piper
 * process; aborting kills it.
 * @throws (from synthesize) AppError VOICE_NOT_FOUND, ENGINE_UNAVAILABLE (no executable), ENGINE_FAILED
 *   (non-zero exit, stderr tail), ENGINE_BAD_RESPONSE (no audio), or the abort error.
 */
export function createPiperCliEngine(opts: PiperCliEngineOptions): Engine {
  const { name } = opts;
  const log = opts.log.child({ engine: name });
  const argv0 = splitCommand(opts.command ?? 'python3 -m piper');
  const dirs = piperDataDirs(argv0);
  let local: LocalVoice[] = [];
  const cache = createVoiceCache(async () => {
    local = await scanDataDirs(dirs, opts.voice);
    return local.map((v) => v.voice);
  });

  const byName = async (wanted: string): Promise<LocalVoice> => {
    const id = basename(wanted).replace(/\.onnx$/, '');
    await cache.get();
    let hit = local.find((v) => v.voice.name === id);
    if (!hit && (isAbsolute(wanted) || wanted.endsWith('.onnx'))) hit = await loadLocalVoice(resolve(wanted));
    if (!hit) {
      await cache.refresh();
      hit = local.find((v) => v.voice.name === id);
    }
    if (!hit)
      throw voiceNotFound(
        name,
        `voice '${wanted}'`,
        local.map((v) => v.voice.name),
      );
    return hit;
  };

  const pickVoice = async (request: SynthesisRequest): Promise<LocalVoice> => {
    if (request.voice) return byName(request.voice);
    const language = request.language ?? (opts.voice ? undefined : opts.language);
    if (!language && opts.voice) return byName(opts.voice);
    const voices = await cache.get();
    const voice = language ? voiceForLanguage(voices, language) : voices[0];
    const hit = voice && local.find((v) => v.voice.name === voice.name);
    if (!hit)
      throw voiceNotFound(
        name,
        `a voice for language '${language ?? 'any'}'`,
        voices.map((v) => v.name),
      );
    return hit;
  };

  const speakerId = (voice: LocalVoice, speaker: string | undefined): number | undefined => {
    const s = piperSpeaker(speaker);
    if (!s || voice.config.num_speakers <= 1) return undefined;
    if ('id' in s) return s.id;
    const id = voice.config.speaker_id_map[s.name];
    if (id === undefined) {
      throw voiceNotFound(
        name,
        `speaker '${s.name}' of voice '${voice.voice.name}'`,
        voice.voice.speakers ?? [],
      );
    }
    return id;
  };

  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = await pickVoice(request);
    const id = speakerId(voice, request.speaker ?? opts.speaker);
    const format: AudioFormat = { rateHz: voice.config.audio.sample_rate, widthBytes: 2, channels: 1 };
    const argv = [
      ...argv0,
      '-m',
      voice.modelPath,
      '--output-raw',
      ...(id === undefined ? [] : ['-s', String(id)]),
    ];
    log.debug({ voice: voice.voice.name, chars: request.text.length }, 'piper cli synthesize');
    const stdinText = `${request.text.trim()}\n`;
    yield* decodeRawPcm(name, format, streamCli({ engine: name, argv, stdinText }, signal));
  }

  const probe = (signal?: AbortSignal) =>
    probeHealth(async () => {
      await runCliOnce(name, [...argv0, '--help'], { signal, timeoutMs: 20_000 });
      const voices = await cache.refresh();
      if (voices.length === 0) {
        throw new AppError(
          'VOICE_NOT_FOUND',
          `no Piper voice in ${dirs.join(', ')}; set voice or --data-dir`,
        );
      }
    });

  return { name, type: 'piper', synthesize, voices: () => cache.get(), probe };
}
