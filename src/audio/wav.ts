/**
 * WAV (RIFF/WAVE) writing and streaming parsing.
 *
 * Parsing is our own because engines stream WAV with headers that lie about their size:
 * - daswer123/xtts-api-server `xtts_api_server/server.py` `/tts_stream` sends a header whose data chunk
 *   declares 0 bytes, then raw 16-bit 24 kHz mono chunks until the response ends.
 * - kyutai-labs/pocket-tts `pocket_tts/data/audio.py` `StreamingWAVWriter` declares 1e9 frames (about 2 GB)
 *   and never patches the header; the stream simply ends.
 * - scipy-written files (pocket-tts `save_audio`) are 32-bit IEEE float with an 18-byte fmt chunk and a `fact` chunk.
 * So the parser never stops at the declared data size: it reads to the end of the source.
 */
import { AppError } from '../shared/errors.js';
import type { AudioChunk, AudioFormat } from './format.js';

/** Bytes in the canonical PCM header that `wavHeader` writes. */
export const WAV_HEADER_BYTES = 44;
/** Data size to declare when the length of a stream is unknown (players read to the end). */
export const WAV_UNKNOWN_DATA_BYTES = 0xffffffff - 36;

const MAX_U32 = 0xffffffff;
const MAX_FMT_BYTES = 1024;
const TAG_PCM = 1;
const TAG_FLOAT = 3;
const TAG_EXTENSIBLE = 0xfffe;
/** Chunk ids that may follow the data chunk in files whose data size is honest. */
const TRAILING_CHUNK_IDS = new Set([
  'LIST',
  'id3 ',
  'ID3 ',
  'cue ',
  'smpl',
  'bext',
  'JUNK',
  'junk',
  'PAD ',
  'inst',
]);

/**
 * A 44-byte canonical PCM WAV header (format tag 1) for `dataBytes` of interleaved little-endian PCM.
 * Sizes above the 32-bit range are clamped, so `WAV_UNKNOWN_DATA_BYTES` (or 0xFFFFFFFF) gives a streaming header.
 */
export function wavHeader(format: AudioFormat, dataBytes: number): Buffer {
  const blockAlign = format.widthBytes * format.channels;
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(Math.min(MAX_U32, 36 + dataBytes), 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(TAG_PCM, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.rateHz, 24);
  header.writeUInt32LE(format.rateHz * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(format.widthBytes * 8, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(Math.min(MAX_U32, dataBytes), 40);
  return header;
}

/** A complete WAV file: the canonical header followed by `pcm` (interleaved little-endian PCM in `format`). */
export function encodeWav(format: AudioFormat, pcm: Buffer): Buffer {
  return Buffer.concat([wavHeader(format, pcm.length), pcm]);
}

/** How the data chunk's samples are stored, from the fmt chunk. */
interface SampleLayout {
  kind: 'pcm' | 'float';
  bytesPerSample: number;
  channels: number;
  rateHz: number;
}

type ParserState =
  | { step: 'riff' }
  | { step: 'chunk' }
  | { step: 'fmt'; size: number }
  | { step: 'skip'; remaining: number }
  | DataState;

/** In the data chunk: bytes left of the declared size (0 = unknown or used up), and whether to look for a trailer. */
interface DataState {
  step: 'data';
  declaredRemaining: number;
  checkTrailer: boolean;
}

function badWav(message: string, cause?: unknown): AppError {
  return new AppError('ENGINE_BAD_RESPONSE', message, { cause });
}

function preview(buf: Buffer): string {
  return JSON.stringify(buf.subarray(0, 16).toString('latin1'));
}

/** Reads the fmt chunk body. @throws AppError ENGINE_BAD_RESPONSE for codecs we cannot convert. */
function parseFmt(body: Buffer): SampleLayout {
  if (body.length < 16) throw badWav(`WAV fmt chunk is ${body.length} bytes; expected at least 16`);
  let tag = body.readUInt16LE(0);
  if (tag === TAG_EXTENSIBLE && body.length >= 26) tag = body.readUInt16LE(24);
  const channels = body.readUInt16LE(2);
  const rateHz = body.readUInt32LE(4);
  const bits = body.readUInt16LE(14);
  const bytesPerSample = Math.ceil(bits / 8);
  if (channels < 1 || rateHz < 1) throw badWav(`WAV declares ${channels} channels at ${rateHz} Hz`);
  if (tag === TAG_PCM && bytesPerSample >= 1 && bytesPerSample <= 4) {
    return { kind: 'pcm', bytesPerSample, channels, rateHz };
  }
  if (tag === TAG_FLOAT && (bytesPerSample === 4 || bytesPerSample === 8)) {
    return { kind: 'float', bytesPerSample, channels, rateHz };
  }
  throw badWav(`WAV format tag ${tag} with ${bits}-bit samples is not supported; send 16-bit PCM or float`);
}

/** Converts whole frames in `layout` to s16le. 16-bit PCM is returned as is (no copy). */
function toS16(raw: Buffer, layout: SampleLayout): Buffer {
  if (layout.kind === 'pcm' && layout.bytesPerSample === 2) return raw;
  const count = raw.length / layout.bytesPerSample;
  const out = Buffer.allocUnsafe(count * 2);
  for (let i = 0; i < count; i++)
    out.writeInt16LE(sampleToS16(raw, i * layout.bytesPerSample, layout), i * 2);
  return out;
}

function sampleToS16(raw: Buffer, at: number, layout: SampleLayout): number {
  if (layout.kind === 'float') {
    const v = layout.bytesPerSample === 4 ? raw.readFloatLE(at) : raw.readDoubleLE(at);
    const clamped = Number.isNaN(v) ? 0 : Math.max(-1, Math.min(1, v));
    return Math.round(clamped < 0 ? clamped * 32768 : clamped * 32767);
  }
  switch (layout.bytesPerSample) {
    case 1:
      return (raw.readUInt8(at) - 128) << 8;
    case 3:
      return raw.readInt16LE(at + 1);
    default:
      return raw.readInt16LE(at + 2);
  }
}

/**
 * A push parser: feed bytes, get PCM out. Kept separate from the async plumbing so every split point
 * of the input behaves the same.
 */
class WavParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: ParserState = { step: 'riff' };
  private layout: SampleLayout | undefined;
  private frameBytes = 0;
  private dataSeen = false;

  /** Appends `bytes` and returns the s16le PCM (whole frames) that became available. */
  push(bytes: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? bytes : Buffer.concat([this.buf, bytes]);
    const out: Buffer[] = [];
    while (this.step(out)) {}
    return out;
  }

  /** The output format once the fmt chunk has been read. */
  get format(): AudioFormat | undefined {
    const l = this.layout;
    return l && { rateHz: l.rateHz, widthBytes: 2, channels: l.channels };
  }

  /** True once a data chunk has started. */
  get sawData(): boolean {
    return this.dataSeen;
  }

  /** Runs one state transition; false when more input is needed. */
  private step(out: Buffer[]): boolean {
    const s = this.state;
    switch (s.step) {
      case 'riff':
        return this.readRiff();
      case 'chunk':
        return this.readChunkHeader();
      case 'fmt':
        return this.readFmt(s.size);
      case 'skip':
        return this.skip(s.remaining);
      case 'data':
        return this.readData(s, out);
    }
  }

  private readRiff(): boolean {
    if (this.buf.length < 12) {
      if (!isRiffPrefix(this.buf))
        throw badWav(`expected a WAV stream (RIFF/WAVE), got ${preview(this.buf)}`);
      return false;
    }
    const riff = this.buf.toString('latin1', 0, 4);
    if ((riff !== 'RIFF' && riff !== 'RF64') || this.buf.toString('latin1', 8, 12) !== 'WAVE') {
      throw badWav(`expected a WAV stream (RIFF/WAVE), got ${preview(this.buf)}`);
    }
    this.consume(12);
    this.state = { step: 'chunk' };
    return true;
  }

  private readChunkHeader(): boolean {
    if (this.buf.length < 8) return false;
    const id = this.buf.toString('latin1', 0, 4);
    const size = this.buf.readUInt32LE(4);
    this.consume(8);
    if (id === 'fmt ') {
      if (size > MAX_FMT_BYTES) throw badWav(`WAV fmt chunk declares ${size} bytes; not a sane WAV`);
      this.state = { step: 'fmt', size };
    } else if (id === 'data') {
      if (!this.layout) throw badWav('WAV data chunk came before its fmt chunk');
      this.state = { step: 'data', declaredRemaining: size, checkTrailer: false };
      this.dataSeen = true;
    } else {
      this.state = { step: 'skip', remaining: size + (size % 2) };
    }
    return true;
  }

  private readFmt(size: number): boolean {
    const padded = size + (size % 2);
    if (this.buf.length < padded) return false;
    this.layout = parseFmt(this.buf.subarray(0, size));
    this.frameBytes = this.layout.bytesPerSample * this.layout.channels;
    this.consume(padded);
    this.state = { step: 'chunk' };
    return true;
  }

  private skip(remaining: number): boolean {
    if (this.buf.length === 0) return false;
    const n = Math.min(remaining, this.buf.length);
    this.consume(n);
    this.state = remaining - n === 0 ? { step: 'chunk' } : { step: 'skip', remaining: remaining - n };
    return true;
  }

  /**
   * Emits whole frames. The declared size is only used to notice a known chunk id (LIST…) exactly where an
   * honest data chunk ends; everything else, however long, is audio (streamed headers declare 0 or ~2 GB).
   */
  private readData(s: DataState, out: Buffer[]): boolean {
    if (s.checkTrailer) {
      if (this.buf.length < 4) return false;
      const id = this.buf.toString('latin1', 0, 4);
      this.state = TRAILING_CHUNK_IDS.has(id) ? { step: 'chunk' } : { ...s, checkTrailer: false };
      return true;
    }
    const known = s.declaredRemaining > 0;
    const avail = known ? Math.min(s.declaredRemaining, this.buf.length) : this.buf.length;
    const whole = avail - (avail % this.frameBytes);
    if (whole === 0) {
      if (!known || s.declaredRemaining >= this.frameBytes) return false;
      // An honest size that is not a whole number of frames: stop counting, keep reading audio.
      this.state = { step: 'data', declaredRemaining: 0, checkTrailer: false };
      return true;
    }
    out.push(toS16(Buffer.from(this.buf.subarray(0, whole)), this.layout!));
    this.consume(whole);
    if (known) {
      const left = s.declaredRemaining - whole;
      this.state = { step: 'data', declaredRemaining: left, checkTrailer: left === 0 };
    }
    return this.buf.length > 0;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
  }
}

function isRiffPrefix(buf: Buffer): boolean {
  const head = buf.toString('latin1', 0, Math.min(4, buf.length));
  return 'RIFF'.startsWith(head) || 'RF64'.startsWith(head);
}

/**
 * Parses a WAV byte stream as it arrives and yields s16le PCM chunks (whole frames only; a partial frame is
 * carried over to the next read). Skips non-audio chunks (LIST, fact, …), converts 8/24/32-bit PCM and
 * 32/64-bit IEEE float (tag 3 or WAVE_FORMAT_EXTENSIBLE) to 16-bit, keeps rate and channels as declared.
 * Never trusts the data chunk's size (streamed headers declare 0 or about 2 GB): reads to the end of `source`.
 * A trailing partial frame at the end is dropped.
 * @throws AppError ENGINE_BAD_RESPONSE when the bytes are not RIFF/WAVE, the codec is unsupported,
 *   or the stream ends before the data chunk.
 */
export async function* parseWavStream(source: AsyncIterable<Buffer | Uint8Array>): AsyncIterable<AudioChunk> {
  const parser = new WavParser();
  for await (const piece of source) {
    const bytes = Buffer.isBuffer(piece)
      ? piece
      : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    for (const pcm of parser.push(bytes)) {
      yield { format: parser.format!, pcm };
    }
  }
  if (!parser.sawData) {
    throw badWav(
      parser.format
        ? 'WAV stream ended before its data chunk'
        : 'WAV stream ended before its header was complete',
    );
  }
}

/**
 * Parses a whole WAV file in memory into one s16le PCM buffer (same rules as `parseWavStream`).
 * @throws AppError ENGINE_BAD_RESPONSE as `parseWavStream`.
 */
export async function parseWavBuffer(buf: Buffer): Promise<AudioChunk> {
  const parts: Buffer[] = [];
  let format: AudioFormat | undefined;
  for await (const chunk of parseWavStream(once(buf))) {
    format = chunk.format;
    parts.push(chunk.pcm);
  }
  if (!format) {
    const parser = new WavParser();
    parser.push(buf);
    format = parser.format!;
  }
  return { format, pcm: Buffer.concat(parts) };
}

async function* once(buf: Buffer): AsyncIterable<Buffer> {
  yield buf;
}

/**
 * Rewrites the RIFF and data sizes of a file that starts with our canonical 44-byte header, for WAV that was
 * streamed with an unknown length and is now complete. Returns false (and changes nothing) for other layouts.
 */
export function patchWavSizes(header: Buffer, totalBytes: number): boolean {
  if (header.length < WAV_HEADER_BYTES) return false;
  if (header.toString('latin1', 0, 4) !== 'RIFF' || header.toString('latin1', 36, 40) !== 'data')
    return false;
  header.writeUInt32LE(Math.min(MAX_U32, totalBytes - 8), 4);
  header.writeUInt32LE(Math.min(MAX_U32, totalBytes - WAV_HEADER_BYTES), 40);
  return true;
}
