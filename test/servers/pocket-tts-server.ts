/**
 * Stand-in for `pocket-tts serve` (kyutai-labs/pocket-tts; its weights cannot be downloaded here).
 * Follows, as read in 2026, `pocket_tts/main.py` (`/health`, `/tts` `text_to_speech`), `pocket_tts/models/
 * tts_model.py` (`get_state_for_audio_prompt`, `_import_model_state`), `pocket_tts/data/audio.py`
 * (`audio_read`, StreamingWAVWriter) and `pocket_tts/utils/utils.py` (built-in voice names):
 * - `GET /health` → `{"status": "healthy"}`.
 * - `POST /tts` form fields `text` (required), `voice_url` (a built-in name, or an http://, https://, hf://
 *   URL; nothing else, so no local path) or an uploaded `voice_wav` (either, not both; neither: the default
 *   voice). The upload's file-name suffix decides how it is read: `.safetensors` as an exported voice state
 *   (safetensors format), `.wav` as an audio prompt through Python's `wave` as 16-bit PCM (and only with the
 *   voice-cloning weights); a file that does not load is an uncaught error there, so 500 "Internal Server
 *   Error". The answer is a `Transfer-Encoding: chunked` WAV, 24 kHz 16-bit mono, whose header declares
 *   1,000,000,000 frames (about 2 GB) and is never patched, then 0.2 s of silence at the end.
 *   Empty text → 400 `{"detail": "Text cannot be empty"}`; both voice fields → 400; a bad voice_url → 400.
 * Speech is real: espeak-ng resampled to 24 kHz; each voice (or uploaded file) picks an espeak variant.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  RATE_24K,
  readBody,
  type StandIn,
  s16MonoWavHeader,
  sendJson,
  startStandIn,
  writeChunk,
  writeSpeech,
} from './speech.js';

/** Built-in voice names of pocket-tts (`_ORIGINS_OF_PREDEFINED_VOICES`). */
export const POCKET_VOICES = [
  'cosette',
  'marius',
  'javert',
  'alba',
  'jean',
  'anna',
  'vera',
  'fantine',
  'charles',
  'paul',
  'eponine',
  'azelma',
  'george',
  'mary',
  'jane',
  'michael',
  'eve',
  'bill_boerst',
  'peter_yearsley',
  'stuart_bell',
  'caro_davy',
  'giovanni',
  'lola',
  'juergen',
  'rafael',
  'estelle',
];

/** Frames the StreamingWAVWriter header claims (`setnframes(1_000_000_000)`). */
const CLAIMED_FRAMES = 1_000_000_000;

/** 0.2 s of 24 kHz 16-bit silence, appended by StreamingWAVWriter.finalize. */
const TRAILING_SILENCE = Buffer.alloc(Math.round(RATE_24K * 0.2) * 2);

/** Parses a form body (multipart or urlencoded) with the platform's own parser. */
async function readForm(req: IncomingMessage): Promise<FormData> {
  const body = await readBody(req);
  const request = new Request('http://localhost/', {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? '' },
    body: new Uint8Array(body),
  });
  return request.formData();
}

/** espeak voice per pocket-tts voice (or uploaded file's hash), so voices sound different. */
function espeakVoice(voice: string): string {
  const byLanguage: Record<string, string> = {
    giovanni: 'it',
    lola: 'es',
    juergen: 'de',
    rafael: 'pt',
    estelle: 'fr',
  };
  return byLanguage[voice] ?? (POCKET_VOICES.indexOf(voice) % 2 === 1 ? 'en+m3' : 'en+f3');
}

/** What one `POST /tts` brought, as the real server would have read it (for assertions). */
export interface PocketTtsReceived {
  text: string;
  voice_url?: string;
  /** An uploaded voice file: its upload name, size, and how the real server reads it (by the name's suffix). */
  voice_wav?: { filename: string; bytes: number; kind: 'safetensors' | 'audio'; sha256: string };
}

/**
 * True when `buf` is a safetensors file: a little-endian u64 header length, then that many bytes of a JSON
 * object (huggingface/safetensors format), which `safetensors.safe_open` requires.
 */
export function isSafetensors(buf: Buffer): boolean {
  if (buf.length < 8) return false;
  const n = Number(buf.readBigUInt64LE(0));
  if (n <= 0 || 8 + n > buf.length) return false;
  try {
    const header = JSON.parse(buf.toString('utf8', 8, 8 + n));
    return typeof header === 'object' && header !== null && !Array.isArray(header);
  } catch {
    return false;
  }
}

/** True when Python's `wave` module opens `buf` and pocket-tts's int16 read of it is right: PCM, 16-bit. */
export function isPcm16Wav(buf: Buffer): boolean {
  if (
    buf.length < 44 ||
    buf.toString('latin1', 0, 4) !== 'RIFF' ||
    buf.toString('latin1', 8, 12) !== 'WAVE'
  ) {
    return false;
  }
  for (let at = 12; at + 8 <= buf.length; ) {
    const size = buf.readUInt32LE(at + 4);
    if (buf.toString('latin1', at, at + 4) === 'fmt ') {
      return buf.readUInt16LE(at + 8) === 1 && buf.readUInt16LE(at + 22) === 16;
    }
    at += 8 + size + (size % 2);
  }
  return false;
}

/**
 * Reads an uploaded `voice_wav` as `pocket_tts/main.py` does: the upload's suffix is kept (default `.wav`);
 * `.safetensors` is loaded as an exported state (`_import_model_state`), anything else as audio
 * (`audio_read`: `.wav` through Python's `wave`, other suffixes need soundfile, which `serve` lacks by
 * default). Audio needs the voice-cloning weights. Failures are uncaught there: FastAPI answers 500.
 */
async function readUpload(
  file: File,
  voiceCloning: boolean,
): Promise<PocketTtsReceived['voice_wav'] | undefined> {
  const buf = Buffer.from(await file.arrayBuffer());
  const name = file.name || 'upload.wav';
  const suffix = name.includes('.') ? name.slice(name.lastIndexOf('.')).toLowerCase() : '.wav';
  const sha256 = createHash('sha256').update(buf).digest('hex');
  if (suffix === '.safetensors') {
    return isSafetensors(buf)
      ? { filename: name, bytes: buf.length, kind: 'safetensors', sha256 }
      : undefined;
  }
  if (!voiceCloning || suffix !== '.wav' || !isPcm16Wav(buf)) return undefined;
  return { filename: name, bytes: buf.length, kind: 'audio', sha256 };
}

async function tts(
  req: IncomingMessage,
  res: ServerResponse,
  received: PocketTtsReceived[],
  voiceCloning: boolean,
): Promise<void> {
  const form = await readForm(req).catch(() => undefined);
  const text = form?.get('text');
  if (typeof text !== 'string') {
    return sendJson(res, 422, {
      detail: [{ type: 'missing', loc: ['body', 'text'], msg: 'Field required' }],
    });
  }
  if (!text.trim()) return sendJson(res, 400, { detail: 'Text cannot be empty' });
  const voiceUrl = form?.get('voice_url');
  const voiceWav = form?.get('voice_wav');
  if (typeof voiceUrl === 'string' && voiceWav) {
    return sendJson(res, 400, { detail: 'Cannot provide both voice_url and voice_wav' });
  }
  let voice = typeof voiceUrl === 'string' ? voiceUrl : 'alba';
  if (!/^(https?|hf):\/\//.test(voice) && !POCKET_VOICES.includes(voice)) {
    return sendJson(res, 400, { detail: 'voice_url must start with http://, https://, or hf://' });
  }
  const entry: PocketTtsReceived = { text };
  if (typeof voiceUrl === 'string') entry.voice_url = voiceUrl;
  if (voiceWav instanceof File) {
    const upload = await readUpload(voiceWav, voiceCloning);
    if (!upload) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Internal Server Error');
      return;
    }
    entry.voice_wav = upload;
    voice = upload.sha256;
  }
  received.push(entry);
  res.writeHead(200, {
    'content-type': 'audio/wav',
    'content-disposition': 'attachment; filename=generated_speech.wav',
    'transfer-encoding': 'chunked',
  });
  // The header Python's `wave` writes after `setnframes(1e9)`: sizes 36 + 2e9 and 2e9.
  await writeChunk(res, s16MonoWavHeader(RATE_24K, CLAIMED_FRAMES * 2));
  if (!(await writeSpeech(res, text, RATE_24K, espeakVoice(voice)))) return;
  await writeChunk(res, TRAILING_SILENCE);
  res.end();
}

/** A running stand-in and what its `/tts` received. */
export interface PocketTtsStandIn extends StandIn {
  received: PocketTtsReceived[];
}

/**
 * Starts the stand-in on a free port. `voiceCloning: false` acts like a server that could not download the
 * voice-cloning weights: audio prompts fail (500), exported `.safetensors` states and built-in voices work.
 */
export async function startPocketTtsServer(opts: { voiceCloning?: boolean } = {}): Promise<PocketTtsStandIn> {
  const received: PocketTtsReceived[] = [];
  const server = await startStandIn(async (req, res, { pathname: path }) => {
    if (req.method === 'GET' && path === '/health') return sendJson(res, 200, { status: 'healthy' });
    if (req.method === 'POST' && path === '/tts') return tts(req, res, received, opts.voiceCloning ?? true);
    sendJson(res, 404, { detail: 'Not Found' });
  });
  return Object.assign(server, { received });
}
