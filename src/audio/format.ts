/**
 * Raw PCM audio vocabulary, after OHF-Voice/wyoming `wyoming/audio.py` (AudioFormat: rate, width, channels).
 */

/** Interleaved little-endian signed PCM: sample rate in Hz, sample width in bytes (2 = s16le), channel count. */
export interface AudioFormat {
  rateHz: number;
  widthBytes: number;
  channels: number;
}

/** One piece of PCM as it arrives from an engine or a microphone. `pcm` holds whole frames only. */
export interface AudioChunk {
  format: AudioFormat;
  pcm: Buffer;
}

/** Bytes per second of audio in `format`. */
export function bytesPerSecond(format: AudioFormat): number {
  return format.rateHz * format.widthBytes * format.channels;
}

/** Duration in ms of `bytes` of PCM in `format`. */
export function pcmDurationMs(bytes: number, format: AudioFormat): number {
  return (bytes / bytesPerSecond(format)) * 1000;
}

/** Bytes of whole frames in `ms` of PCM in `format` (rounded down, at least one frame). */
export function pcmBytesFor(format: AudioFormat, ms: number): number {
  const frameBytes = format.widthBytes * format.channels;
  return Math.max(frameBytes, Math.floor((format.rateHz * ms) / 1000) * frameBytes);
}

/** True when two formats are the same. */
export function sameFormat(a: AudioFormat, b: AudioFormat): boolean {
  return a.rateHz === b.rateHz && a.widthBytes === b.widthBytes && a.channels === b.channels;
}

/** The ffmpeg `-f` name of a PCM sample width: 1 → u8, 2 → s16le, 4 → s32le. */
export function ffmpegPcmFormat(format: AudioFormat): string {
  switch (format.widthBytes) {
    case 1:
      return 'u8';
    case 2:
      return 's16le';
    case 4:
      return 's32le';
    default:
      throw new RangeError(`unsupported PCM sample width ${format.widthBytes} bytes`);
  }
}

/**
 * The PCM format of speech where no engine's own format applies: 22,050 Hz, 16-bit, mono (the rate of
 * espeak-ng and most Piper voices). What PCM targets receive (Wyoming snd services and Hermes audio servers
 * convert), the mix format of chimes before an engine's format is known, and the chimes' probing format.
 */
export const SPEECH_PCM_FORMAT: AudioFormat = { rateHz: 22_050, widthBytes: 2, channels: 1 };

/**
 * Sample rate of OpenAI's `pcm` format, in Hz: raw 24 kHz 16-bit signed little-endian mono (OpenAI API
 * reference, "Create speech", `response_format`). Both what `/v1/audio/speech` answers and what an
 * OpenAI-compatible engine sends.
 */
export const OPENAI_PCM_RATE_HZ = 24_000;

/** 16 kHz, 16-bit, mono: what satellites' microphones send (wyoming-mic-external, Hermes). */
export const MIC_FORMAT: AudioFormat = { rateHz: 16000, widthBytes: 2, channels: 1 };

/** Output formats a request may ask for. */
export const OUTPUT_FORMATS = ['opus', 'mp3', 'wav'] as const;
/** One of the output formats; the file extension is the same word. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** HTTP content type of each output format. */
export const CONTENT_TYPES: Record<OutputFormat, string> = {
  opus: 'audio/ogg',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
};
