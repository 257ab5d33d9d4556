/**
 * pocket-tts voices from files: `<share>/voices/pocket-tts/` holds exported voice embeddings (`.safetensors`,
 * made by `pocket-tts export-voice AUDIO OUT.safetensors`) and short WAV prompts, plus a voice manifest
 * `manifest.json` mapping each voice id to its file (or a URL), language, source and licence:
 *
 * ```json
 * {"anna": {"file": "anna.safetensors", "language": "en", "source": "recorded by Anna, 2026", "licence": "CC-BY-4.0"},
 *  "announcer": {"url": "hf://kyutai/tts-voices/alba-mackenna/announcer.wav", "language": "en", "licence": "CC-BY-4.0"}}
 * ```
 *
 * Facts from kyutai-labs/pocket-tts: `models/tts_model.py` `get_state_for_audio_prompt` loads a path or URL ending
 * in `.safetensors` as an exported state and reads anything else as audio (`data/audio.py` `audio_read`: WAV with
 * Python's `wave` module as 16-bit PCM; the server truncates prompts to 30 s); `utils/utils.py`
 * `download_if_necessary` fetches `http://`, `https://` and `hf://` URLs; `main.py` `serve` accepts only those
 * schemes (or a built-in name) in `voice_url`. A file without a manifest entry is still offered, with a warning;
 * a voice without a licence entry is listed with a warning (the panel shows it).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { z } from 'zod';
import type { Log } from '../../shared/log.js';
import type { Voice } from '../engine.js';

/** The manifest's file name, beside the voices. */
export const MANIFEST_NAME = 'manifest.json';
/** Largest voice file offered (an upload per request to `pocket-tts serve`), in bytes. */
export const MAX_VOICE_FILE_BYTES = 64 * 1024 * 1024;
/** Longest WAV prompt pocket-tts uses, in s (the server and export-voice truncate to this). */
export const MAX_PROMPT_S = 30;
/** URL schemes pocket-tts accepts for a voice (`main.py` `text_to_speech`, `utils.py` `download_if_necessary`). */
export const VOICE_URL = /^(https?|hf):\/\/\S+$/;

const VoiceId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . -, up to 64');
const FileName = z
  .string()
  .regex(/^[^/\\]+\.(safetensors|wav)$/i, 'a .safetensors or .wav file name in the voices folder')
  .refine((n) => n !== '..' && !n.startsWith('.'), 'a plain file name');

const ManifestEntrySchema = z
  .object({
    file: FileName.optional(),
    url: z.string().regex(VOICE_URL, 'an http://, https:// or hf:// URL').optional(),
    language: z.string().max(32).optional(),
    source: z.string().max(500).optional(),
    licence: z.string().max(200).optional(),
    /** US spelling, accepted as `licence`. */
    license: z.string().max(200).optional(),
  })
  .refine((e) => (e.file === undefined) !== (e.url === undefined), 'give exactly one of file or url');

/** The manifest: voice id → entry. */
export const VoiceManifestSchema = z.record(VoiceId, ManifestEntrySchema);

/** A voice found in the folder or the manifest, resolved for synthesis. */
export interface PocketVoice {
  id: string;
  /** `safetensors`: an exported state; `wav`: an audio prompt; `url`: fetched by pocket-tts itself. */
  kind: 'safetensors' | 'wav' | 'url';
  /** Absolute path of a file voice. */
  path?: string;
  /** The URL of a `url` voice. */
  url?: string;
  /** The file name as shown (`anna.safetensors`) or the URL. */
  file: string;
  language?: string;
  source?: string;
  licence?: string;
  /** What the user should fix (no licence entry, no manifest entry, a prompt pocket-tts cannot read well). */
  warnings: string[];
}

/** The Voice row of a file voice (`/api/voices`, Wyoming describe, the panel). */
export function fileVoiceRow(v: PocketVoice): Voice {
  const licence = v.licence ? `licence ${v.licence}` : 'no licence entry';
  return {
    name: v.id,
    languages: v.language ? [v.language] : [],
    description: `${v.file} (${licence})`,
    file: v.file,
    source: v.source ?? null,
    licence: v.licence ?? null,
    warnings: v.warnings,
  };
}

/**
 * Problems of a WAV prompt for pocket-tts: it reads WAV with Python's `wave` module as 16-bit PCM, and uses the
 * first 30 s. Returns warnings (empty when fine).
 */
export function wavPromptWarnings(head: Buffer, fileBytes: number): string[] {
  if (head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    return ['not a RIFF/WAVE file; pocket-tts reads WAV prompts with Python wave'];
  }
  let at = 12;
  let rate = 0;
  let channels = 0;
  while (at + 8 <= head.length) {
    const id = head.toString('latin1', at, at + 4);
    const size = head.readUInt32LE(at + 4);
    if (id === 'fmt ' && at + 24 <= head.length) {
      const tag = head.readUInt16LE(at + 8);
      channels = head.readUInt16LE(at + 10);
      rate = head.readUInt32LE(at + 12);
      const bits = head.readUInt16LE(at + 22);
      if ((tag !== 1 && tag !== 0xfffe) || bits !== 16) {
        return [
          `WAV prompt is not 16-bit PCM (format ${tag}, ${bits} bit); pocket-tts reads it as 16-bit: convert it with 'ffmpeg -i IN -c:a pcm_s16le OUT.wav'`,
        ];
      }
    }
    if (id === 'data' && rate && channels) {
      const seconds = Math.min(size, fileBytes - at - 8) / (rate * channels * 2);
      return seconds > MAX_PROMPT_S
        ? [`WAV prompt is ${Math.round(seconds)} s long; pocket-tts uses only the first ${MAX_PROMPT_S} s`]
        : [];
    }
    at += 8 + size + (size % 2);
  }
  return [];
}

/** Reads and checks the manifest; a broken one is reported and treated as empty. */
async function readManifest(
  dir: string,
  log: Log,
): Promise<{ entries: z.infer<typeof VoiceManifestSchema>; problem?: string }> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_NAME), 'utf8');
  } catch {
    return { entries: {} };
  }
  try {
    const parsed = VoiceManifestSchema.safeParse(JSON.parse(text));
    if (parsed.success) return { entries: parsed.data };
    const issue = parsed.error.issues[0];
    const problem = `${MANIFEST_NAME}: ${issue?.path.join('.')}: ${issue?.message}`;
    log.warn({ dir, problem }, 'voice manifest refused');
    return { entries: {}, problem };
  } catch (err) {
    const problem = `${MANIFEST_NAME} is not valid JSON: ${(err as Error).message}`;
    log.warn({ dir, problem }, 'voice manifest refused');
    return { entries: {}, problem };
  }
}

/** Checks one file voice on disk; undefined when it is missing or too large (logged). */
async function fileVoice(
  dir: string,
  id: string,
  file: string,
  log: Log,
): Promise<Pick<PocketVoice, 'kind' | 'path' | 'warnings'> | undefined> {
  const path = join(dir, file);
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    log.warn({ voice: id, path }, 'voice file missing');
    return undefined;
  }
  if (info.size > MAX_VOICE_FILE_BYTES) {
    log.warn({ voice: id, path, bytes: info.size }, 'voice file too large');
    return undefined;
  }
  const kind = extname(file).toLowerCase() === '.wav' ? 'wav' : 'safetensors';
  if (kind === 'safetensors') return { kind, path, warnings: [] };
  const head = Buffer.alloc(Math.min(info.size, 4096));
  const fh = await open(path, 'r');
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  return { kind, path, warnings: wavPromptWarnings(head, info.size) };
}

/**
 * Lists the voices of `dir`: every manifest entry whose file exists (or whose URL is allowed), then every
 * `.safetensors`/`.wav` file the manifest does not name (id = file name without extension). Ids that are
 * built-in voice names are skipped (the built-in wins on the server). Never throws: problems are logged and
 * returned as `problems`.
 */
export async function scanPocketVoices(
  dir: string,
  builtIn: ReadonlySet<string>,
  log: Log,
): Promise<{ voices: PocketVoice[]; problems: string[] }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const { entries, problem } = await readManifest(dir, log);
  const problems = problem ? [problem] : [];
  const voices: PocketVoice[] = [];
  const named = new Set<string>();
  const add = (v: PocketVoice): void => {
    if (builtIn.has(v.id)) {
      problems.push(`voice '${v.id}' has the name of a built-in pocket-tts voice; rename it`);
      return;
    }
    if (!v.licence) v.warnings.unshift('no licence entry in manifest.json');
    voices.push(v);
  };
  for (const [id, e] of Object.entries(entries)) {
    const meta = { id, language: e.language, source: e.source, licence: e.licence ?? e.license };
    if (e.url) {
      add({ ...meta, kind: 'url', url: e.url, file: e.url, warnings: [] });
      continue;
    }
    const file = e.file as string;
    named.add(file);
    const found = await fileVoice(dir, id, file, log);
    if (found) add({ ...meta, ...found, file, warnings: [...found.warnings] });
    else
      problems.push(`voice '${id}': file '${file}' is missing or larger than ${MAX_VOICE_FILE_BYTES} bytes`);
  }
  for (const file of names.sort()) {
    if (named.has(file) || !/\.(safetensors|wav)$/i.test(file) || file.startsWith('.')) continue;
    const id = file.replace(/\.(safetensors|wav)$/i, '');
    if (!VoiceId.safeParse(id).success || voices.some((v) => v.id === id)) continue;
    const found = await fileVoice(dir, id, file, log);
    if (found) add({ id, ...found, file, warnings: ['no entry in manifest.json', ...found.warnings] });
  }
  return { voices, problems };
}
