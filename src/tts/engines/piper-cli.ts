import { access, readdir, readFile } from 'node:fs/promises';
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
 * The rate comes from the voice's `<model>.onnx.json` (`audio.sample_rate`); `piper.download_voices
 * --data-dir DIR VOICE` (`src/piper/download_voices.py`) puts `<id>.onnx` and `<id>.onnx.json` in DIR.
 * A configured command or voice that is missing is ENGINE_MISCONFIGURED naming the file and the fix, at the
 * health probe (so at start) and for every say, never replaced by another engine's audio.
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
  /** More voice folders, searched after the command's `--data-dir`s (the hub passes `<share>/piper`). */
  dataDirs?: string[];
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

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** ENGINE_MISCONFIGURED for a missing voice file, with the command that downloads it into `home`. */
function misconfigured(engine: string, what: string, home: string, id: string): AppError {
  return new AppError(
    'ENGINE_MISCONFIGURED',
    `engine '${engine}': ${what}; put the voice's .onnx and .onnx.json files in ${home} ` +
      `(e.g. 'python3 -m piper.download_voices --data-dir ${home} ${id}'; see DOCS, Piper voices)`,
    { details: { engine, dir: home } },
  );
}

/**
 * ENGINE_MISCONFIGURED when `err` says Python has no `piper` module (`python3 -m piper` without piper-tts);
 * undefined for any other error.
 */
function missingModule(engine: string, argv0: readonly string[], err: unknown): AppError | undefined {
  if (!(err instanceof AppError) || err.code !== 'ENGINE_FAILED') return undefined;
  const text = `${err.message}\n${String(err.details?.stderr ?? '')}`;
  if (!/No module named '?piper/.test(text)) return undefined;
  return new AppError(
    'ENGINE_MISCONFIGURED',
    `engine '${engine}': '${argv0.join(' ')}' has no Python module 'piper'; install piper-tts for that Python ` +
      `(pip install piper-tts) or set engines[].command to a Python that has it`,
    { cause: err, details: { engine } },
  );
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
  const commandDirs = piperDataDirs(argv0);
  const dirs = [
    ...new Set([...commandDirs.slice(0, -1), ...(opts.dataDirs ?? []).map((d) => resolve(d)), process.cwd()]),
  ];
  /** Where a missing voice should go: the first folder the user named (`<share>/piper` in the add-on). */
  const home = opts.dataDirs?.[0] ? resolve(opts.dataDirs[0]) : (dirs[0] as string);
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

  /** ENGINE_MISCONFIGURED naming the missing file of the configured voice (or of any voice), else undefined. */
  const configProblem = async (): Promise<AppError | undefined> => {
    if (!opts.voice) {
      const voices = await cache.refresh();
      return voices.length
        ? undefined
        : misconfigured(
            name,
            `no Piper voice (<id>.onnx with <id>.onnx.json) in ${dirs.join(', ')}`,
            home,
            'en_US-lessac-medium',
          );
    }
    const asPath = isAbsolute(opts.voice) || opts.voice.endsWith('.onnx');
    const id = basename(opts.voice).replace(/\.onnx$/, '');
    const candidates = asPath ? [resolve(opts.voice)] : dirs.map((d) => join(d, `${id}.onnx`));
    for (const model of candidates) {
      if (!(await exists(model))) continue;
      if (!(await exists(`${model}.json`))) {
        return misconfigured(
          name,
          `Piper model config '${model}.json' is missing (it comes with the model)`,
          home,
          id,
        );
      }
      return undefined;
    }
    const expected = asPath ? (candidates[0] as string) : join(home, `${id}.onnx`);
    return misconfigured(name, `Piper model '${id}' is missing: '${expected}' not found`, home, id);
  };

  const pickVoice = async (request: SynthesisRequest): Promise<LocalVoice> => {
    if (!request.voice || request.voice === opts.voice) {
      const problem = await configProblem();
      if (problem) throw problem;
    }
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
    try {
      yield* decodeRawPcm(name, format, streamCli({ engine: name, argv, stdinText }, signal));
    } catch (err) {
      throw missingModule(name, argv0, err) ?? err;
    }
  }

  const probe = (signal?: AbortSignal) =>
    probeHealth(async () => {
      try {
        await runCliOnce(name, [...argv0, '--help'], { signal, timeoutMs: 20_000 });
      } catch (err) {
        throw missingModule(name, argv0, err) ?? err;
      }
      const problem = await configProblem();
      if (problem) throw problem;
    });

  return { name, type: 'piper', textMode: 'whole-text', synthesize, voices: () => cache.get(), probe };
}
