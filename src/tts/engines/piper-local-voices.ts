/**
 * The voices a Piper CLI engine finds on disk: `<id>.onnx` with its `<id>.onnx.json` in the data folders
 * (piper1-gpl `src/piper/download_voices.py` puts them there), scanned on first use and again when a named
 * voice is missing; and the ENGINE_MISCONFIGURED errors naming a missing file and the download command.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { SynthesisRequest, Voice } from '../engine.js';
import { voiceNotFound } from './engine-errors.js';
import { type PiperVoiceConfig, PiperVoiceConfigSchema, piperSpeaker, piperVoice } from './piper-voice.js';
import { createVoiceCache, voiceForLanguage } from './voice-list.js';

/** A voice found on disk: its id, model path and parsed config. */
export interface LocalVoice {
  voice: Voice;
  modelPath: string;
  config: PiperVoiceConfig;
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

/** Where a Piper CLI engine looks for voices, and what it was configured with. */
export interface PiperLocalVoicesOptions {
  /** Engine name, for errors. */
  engine: string;
  /** Data folders searched, in order. */
  dirs: string[];
  /** Where a missing voice should go (named in the error's fix). */
  home: string;
  /** The configured voice (`engines[].voice`): an id or an .onnx path. */
  voice?: string | undefined;
  /** The configured language (`engines[].language`). */
  language?: string | undefined;
}

/** The voices on disk of one Piper CLI engine (see the module comment). */
export class PiperLocalVoices {
  private local: LocalVoice[] = [];
  private readonly cache = createVoiceCache(async () => {
    this.local = await scanDataDirs(this.opts.dirs, this.opts.voice);
    return this.local.map((v) => v.voice);
  });

  constructor(private readonly opts: PiperLocalVoicesOptions) {}

  /** The voices found (scanned on first use). */
  list(): Promise<Voice[]> {
    return this.cache.get();
  }

  /** The voice `wanted` (an id, or an .onnx path), rescanning once when it is missing. @throws VOICE_NOT_FOUND */
  async byName(wanted: string): Promise<LocalVoice> {
    const id = basename(wanted).replace(/\.onnx$/, '');
    await this.cache.get();
    let hit = this.local.find((v) => v.voice.name === id);
    if (!hit && (isAbsolute(wanted) || wanted.endsWith('.onnx'))) hit = await loadLocalVoice(resolve(wanted));
    if (!hit) {
      await this.cache.refresh();
      hit = this.local.find((v) => v.voice.name === id);
    }
    if (!hit)
      throw voiceNotFound(
        this.opts.engine,
        `voice '${wanted}'`,
        this.local.map((v) => v.voice.name),
      );
    return hit;
  }

  /** ENGINE_MISCONFIGURED naming the missing file of the configured voice (or of any voice), else undefined. */
  async configProblem(): Promise<AppError | undefined> {
    if (!this.opts.voice) {
      const voices = await this.cache.refresh();
      return voices.length
        ? undefined
        : misconfigured(
            this.opts.engine,
            `no Piper voice (<id>.onnx with <id>.onnx.json) in ${this.opts.dirs.join(', ')}`,
            this.opts.home,
            'en_US-lessac-medium',
          );
    }
    const asPath = isAbsolute(this.opts.voice) || this.opts.voice.endsWith('.onnx');
    const id = basename(this.opts.voice).replace(/\.onnx$/, '');
    const candidates = asPath ? [resolve(this.opts.voice)] : this.opts.dirs.map((d) => join(d, `${id}.onnx`));
    for (const model of candidates) {
      if (!(await exists(model))) continue;
      if (!(await exists(`${model}.json`))) {
        return misconfigured(
          this.opts.engine,
          `Piper model config '${model}.json' is missing (it comes with the model)`,
          this.opts.home,
          id,
        );
      }
      return undefined;
    }
    const expected = asPath ? (candidates[0] as string) : join(this.opts.home, `${id}.onnx`);
    return misconfigured(
      this.opts.engine,
      `Piper model '${id}' is missing: '${expected}' not found`,
      this.opts.home,
      id,
    );
  }

  /**
   * The voice of `request`: its voice, else one for its language, else the configured voice, else one for the
   * configured language, else the first found. @throws ENGINE_MISCONFIGURED, VOICE_NOT_FOUND
   */
  async pick(request: SynthesisRequest): Promise<LocalVoice> {
    if (!request.voice || request.voice === this.opts.voice) {
      const problem = await this.configProblem();
      if (problem) throw problem;
    }
    if (request.voice) return this.byName(request.voice);
    const language = request.language ?? (this.opts.voice ? undefined : this.opts.language);
    if (!language && this.opts.voice) return this.byName(this.opts.voice);
    const voices = await this.cache.get();
    const voice = language ? voiceForLanguage(voices, language) : voices[0];
    const hit = voice && this.local.find((v) => v.voice.name === voice.name);
    if (!hit)
      throw voiceNotFound(
        this.opts.engine,
        `a voice for language '${language ?? 'any'}'`,
        voices.map((v) => v.name),
      );
    return hit;
  }

  /** Piper's `-s` id of `speaker` in a multi-speaker voice; undefined for one speaker. @throws VOICE_NOT_FOUND */
  speakerId(voice: LocalVoice, speaker: string | undefined): number | undefined {
    const s = piperSpeaker(speaker);
    if (!s || voice.config.num_speakers <= 1) return undefined;
    if ('id' in s) return s.id;
    const id = voice.config.speaker_id_map[s.name];
    if (id === undefined) {
      throw voiceNotFound(
        this.opts.engine,
        `speaker '${s.name}' of voice '${voice.voice.name}'`,
        voice.voice.speakers ?? [],
      );
    }
    return id;
  }
}
