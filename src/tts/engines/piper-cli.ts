import { resolve } from 'node:path';
import type { AudioChunk, AudioFormat } from '../../audio/format.js';
import { AppError } from '../../shared/errors.js';
import type { Log } from '../../shared/log.js';
import type { Engine, SynthesisRequest } from '../engine.js';
import { decodeRawPcm } from './audio-source.js';
import { runCliOnce, streamCli } from './cli-process.js';
import { probeHealth, splitCommand } from './engine-errors.js';
import { PiperLocalVoices } from './piper-local-voices.js';

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
  const voices = new PiperLocalVoices({
    engine: name,
    dirs,
    // Where a missing voice should go: the first folder the user named (`<share>/piper` in the add-on).
    home: opts.dataDirs?.[0] ? resolve(opts.dataDirs[0]) : (dirs[0] as string),
    voice: opts.voice,
    language: opts.language,
  });
  async function* synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const voice = await voices.pick(request);
    const id = voices.speakerId(voice, request.speaker ?? opts.speaker);
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
      const problem = await voices.configProblem();
      if (problem) throw problem;
    });

  return { name, type: 'piper', synthesize, voices: () => voices.list(), probe };
}
