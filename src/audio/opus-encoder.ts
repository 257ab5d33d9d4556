/**
 * Ogg Opus made in process: PCM → (gain) → one resampler to an Opus rate → libopus (`@evan/opus`: its bundled
 * native build for linux x64/arm64 glibc, else its WebAssembly build) in 20 ms frames → our Ogg pages
 * (ogg-writer.ts), 2 frames (40 ms) per page, each page handed out as soon as it is complete.
 *
 * Same stream shape as the ffmpeg path (`-c:a libopus -application audio -frame_duration 20 -page_duration 40000`):
 * OpusHead with the encoder's look-ahead as pre-skip, OpusTags, audio pages whose granule positions count 48 kHz
 * samples, and an EOS page whose granule trims the padding of the last frame (RFC 7845 §4.4), so decoders report
 * the input's exact duration.
 */
import { convertPcm } from './convert.js';
import { type AudioFormat, SPEECH_PCM_FORMAT } from './format.js';
import { applyGain } from './loudness.js';
import { OggStreamWriter, opusHead, opusTags } from './ogg-writer.js';
import { createResampler, opusRateFor, type Resampler } from './resampler.js';

/** The libopus encoder of `@evan/opus` (the parts used here; see its `lib.d.ts`). */
interface LibopusEncoder {
  encode(pcm: ArrayBufferView): Uint8Array;
  bitrate: number | 'auto' | 'max';
  complexity: number;
  readonly lookahead: number;
}
type LibopusEncoderClass = new (o: {
  channels: 1 | 2;
  sample_rate: number;
  application: 'voip' | 'audio';
}) => LibopusEncoder;

/** 20 ms frames, as the ffmpeg path (`-frame_duration 20`). */
const FRAME_MS = 20;
/** Frames per Ogg page: 2 × 20 ms = the 40 ms pages of the live path (OGG_PAGE_DURATION_US, ffmpeg-args.ts). */
const FRAMES_PER_PAGE = 2;
const OPUS_PLAYBACK_HZ = 48_000;
/**
 * libopus application. `audio`, not `voip`: at 32 kbit/s and 24 kHz, `voip` codes speech with SILK or hybrid
 * mode, `audio` with CELT, which costs a quarter of the CPU for the same size (measured on 4.9 s of espeak-ng
 * speech at complexity 5: 44.5 ms against 10.7 ms, 18.3 KB against 19.4 KB) and sounds as clean on synthetic
 * speech without the noise the voip mode is made for.
 */
export const OPUS_APPLICATION = 'audio';
/**
 * Pacing of an in-process encode (main thread: inprocess-encoder.ts; encode thread: encode-worker.ts). The first
 * piece of PCM encoded, in ms: one page (40 ms) plus what the resampler holds back (a few ms), handed out as soon
 * as the first audio page exists, so the first audio page goes out after the least work.
 */
export const FIRST_PIECE_MS = 50;
/**
 * Later pages are handed out together once this much speech is encoded, in ms (about 5 ms of CPU): fewer, bigger
 * writes to the cache file and to listeners (each an await); the audio is there no later than the engine
 * delivered it.
 */
export const PAGE_BATCH_MS = 500;
/** Vendor string in OpusTags. */
const VENDOR = 'tts-hub (libopus)';

let codec: Promise<LibopusEncoderClass> | undefined;

/**
 * Loads the libopus binding once (native when `@evan/opus` has a build for this platform, else WebAssembly).
 * @throws Error when neither can be loaded.
 */
export function loadLibopus(): Promise<LibopusEncoderClass> {
  codec ??= import('@evan/opus').then((m) => m.Encoder as unknown as LibopusEncoderClass);
  return codec;
}

/** Which build of libopus `@evan/opus` loaded: its bundled native addon, or its WebAssembly build. */
export type LibopusBuild = 'native' | 'wasm';

/** The build behind an Encoder class: native when a constructor in its chain is native code. */
function buildOf(Encoder: LibopusEncoderClass): LibopusBuild {
  for (let c: unknown = Encoder; typeof c === 'function'; c = Object.getPrototypeOf(c)) {
    if (c === Function.prototype) break;
    if (Function.prototype.toString.call(c).includes('[native code]')) return 'native';
  }
  return 'wasm';
}

/**
 * Loads libopus and the resampler and encodes a short test tone at 22,050 Hz (the rate of espeak-ng and most
 * Piper voices), so the first say pays no loading. Resolves to the libopus build in use.
 * @throws Error when the in-process encoder cannot work here (the hub then falls back to ffmpeg).
 */
export async function prepareInProcessOpus(): Promise<LibopusBuild> {
  const Encoder = await loadLibopus();
  const input: AudioFormat = SPEECH_PCM_FORMAT;
  const enc = await OggOpusEncoder.create(input, { bitrateKbps: 32, complexity: 10 });
  const tone = Buffer.alloc(2 * 2205);
  for (let i = 0; i < 2205; i++) tone.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);
  const bytes = Buffer.concat([...enc.push(tone), ...enc.finish()]);
  if (bytes.length < 100) throw new Error('the test encode produced no audio');
  return buildOf(Encoder);
}

/** How to encode. */
export interface OpusEncodeSettings {
  /** Target bitrate in kbit/s. */
  bitrateKbps: number;
  /** libopus complexity 0–10 (ffmpeg's libopus default is 10). */
  complexity: number;
  /** Gain applied to the PCM first, in dB (0 or undefined: none). */
  gainDb?: number;
}

/**
 * A streaming Ogg Opus encoder for PCM in one format. Feed `push` with PCM as it comes; each call returns the
 * Ogg pages completed by it (the two header pages with the first call); `finish` encodes the rest, pads the
 * last frame and returns the final pages, the last flagged EOS. Synchronous after `create`.
 */
export class OggOpusEncoder {
  private readonly ogg = new OggStreamWriter();
  private readonly frameSamples: number;
  private readonly channels: 1 | 2;
  private readonly preSkip: number;
  /** Bytes of one 20 ms frame at the Opus rate (s16le). */
  private readonly frameBytes: number;
  /** The start of the next frame, carried from one push to the next (`pendingBytes` of it are filled). */
  private readonly pending: Buffer;
  private pendingBytes = 0;
  private packets: Uint8Array[] = [];
  private packetCount = 0;
  private inputFrames = 0;
  private headersOut = false;
  private finished = false;
  private audioPages = 0;

  private constructor(
    readonly input: AudioFormat,
    private readonly settings: OpusEncodeSettings,
    private readonly encoder: LibopusEncoder,
    private readonly resampler: Resampler | undefined,
    readonly opusRateHz: number,
  ) {
    this.channels = input.channels >= 2 ? 2 : 1;
    this.frameSamples = (opusRateHz * FRAME_MS) / 1000;
    this.frameBytes = this.frameSamples * 2 * this.channels;
    this.pending = Buffer.alloc(this.frameBytes);
    this.preSkip = encoder.lookahead * (OPUS_PLAYBACK_HZ / opusRateHz);
  }

  /**
   * An encoder for PCM in `input` (any width; more than 2 channels are mixed down to mono).
   * @throws Error when libopus or the resampler cannot be loaded.
   */
  static async create(input: AudioFormat, settings: OpusEncodeSettings): Promise<OggOpusEncoder> {
    const Encoder = await loadLibopus();
    const rate = opusRateFor(input);
    const channels = input.channels === 2 ? 2 : 1;
    const encoder = new Encoder({ channels, sample_rate: rate, application: OPUS_APPLICATION });
    encoder.bitrate = Math.round(settings.bitrateKbps * 1000);
    encoder.complexity = settings.complexity;
    const resampler = rate === input.rateHz ? undefined : await createResampler(input.rateHz, rate, channels);
    return new OggOpusEncoder(input, settings, encoder, resampler, rate);
  }

  /** Audio pages (pages after the two header pages) produced so far. */
  get audioPagesOut(): number {
    return this.audioPages;
  }

  /** Duration of the PCM pushed so far, in ms. */
  get inputDurationMs(): number {
    return (this.inputFrames / this.input.rateHz) * 1000;
  }

  /** Encodes `pcm` (whole frames of `input`); returns the pages it completed. */
  push(pcm: Buffer): Buffer[] {
    if (this.finished) throw new Error('Opus encoder already finished');
    const format = this.input;
    const mono = format.channels > 2;
    const s16 =
      format.widthBytes === 2 && !mono
        ? pcm
        : convertPcm(pcm, format, { ...format, widthBytes: 2, channels: mono ? 1 : format.channels });
    this.inputFrames += s16.length / 2 / this.channels;
    const gained = this.settings.gainDb
      ? applyGain(s16, { ...format, widthBytes: 2 }, this.settings.gainDb)
      : s16;
    // A view of the resampler's memory, used up by encodeFrames before the resampler runs again.
    const atRate = this.resampler ? this.resampler.pushView(gained) : gained;
    return this.encodeFrames(atRate, false);
  }

  /** Encodes what is left, flushes the encoder's look-ahead and returns the last pages (EOS on the last). */
  finish(): Buffer[] {
    if (this.finished) return [];
    const tail = this.resampler ? this.resampler.finish() : Buffer.alloc(0);
    this.finished = true;
    this.resampler?.release();
    return this.encodeFrames(tail, true);
  }

  /** Gives the resampler back (an encode abandoned before `finish`). */
  close(): void {
    if (!this.finished) this.resampler?.release();
    this.finished = true;
  }

  private encodeFrames(pcm: Buffer, last: boolean): Buffer[] {
    const pages: Buffer[] = [];
    if (!this.headersOut) {
      this.headersOut = true;
      const head = opusHead({
        channels: this.channels,
        preSkip: this.preSkip,
        inputRateHz: this.input.rateHz,
      });
      pages.push(this.ogg.page({ packets: [head], granule: 0n, bos: true }));
      pages.push(this.ogg.page({ packets: [opusTags(VENDOR)], granule: 0n }));
    }
    const frameBytes = this.frameBytes;
    let at = 0;
    if (this.pendingBytes > 0) {
      // Complete the frame begun by the last push (a copy of at most one frame, not of all of `pcm`).
      at = Math.min(pcm.length, frameBytes - this.pendingBytes);
      this.pending.set(pcm.subarray(0, at), this.pendingBytes);
      this.pendingBytes += at;
      if (this.pendingBytes === frameBytes) {
        this.encodePacket(this.pending, pages);
        this.pendingBytes = 0;
      }
    }
    for (; at + frameBytes <= pcm.length; at += frameBytes)
      this.encodePacket(pcm.subarray(at, at + frameBytes), pages);
    if (at < pcm.length) {
      this.pending.set(pcm.subarray(at), 0);
      this.pendingBytes = pcm.length - at;
    }
    if (!last) return pages;
    // The end: pad the last partial frame, then add frames until the decoded output covers pre-skip + input.
    const total48 = this.preSkip + Math.round((this.inputFrames * OPUS_PLAYBACK_HZ) / this.input.rateHz);
    const per48 = this.frameSamples * (OPUS_PLAYBACK_HZ / this.opusRateHz);
    const bytes = this.pending.fill(0, this.pendingBytes);
    this.pendingBytes = 0;
    do {
      this.packets.push(this.encoder.encode(bytes));
      this.packetCount++;
      bytes.fill(0);
      if (this.packets.length === FRAMES_PER_PAGE && this.packetCount * per48 < total48) {
        pages.push(this.flushPage());
      }
    } while (this.packetCount * per48 < total48);
    pages.push(this.ogg.page({ packets: this.packets, granule: BigInt(total48), eos: true }));
    this.audioPages++;
    this.packets = [];
    return pages;
  }

  /** Encodes one whole frame; a page goes to `pages` when it completes one. */
  private encodePacket(frame: Buffer, pages: Buffer[]): void {
    this.packets.push(this.encoder.encode(frame));
    this.packetCount++;
    if (this.packets.length === FRAMES_PER_PAGE) pages.push(this.flushPage());
  }

  /** A page of the packets held (not the last one): its granule counts every packet so far. */
  private flushPage(): Buffer {
    const per48 = this.frameSamples * (OPUS_PLAYBACK_HZ / this.opusRateHz);
    const page = this.ogg.page({ packets: this.packets, granule: BigInt(this.packetCount * per48) });
    this.audioPages++;
    this.packets = [];
    return page;
  }
}
