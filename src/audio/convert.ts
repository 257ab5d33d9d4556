/**
 * Converting PCM between AudioFormats in process, for the rare engine that changes format mid-stream
 * (the encoder's ffmpeg input format is fixed by the first chunk).
 */
import { type AudioFormat, sameFormat } from './format.js';

function readSample(pcm: Buffer, at: number, widthBytes: number): number {
  switch (widthBytes) {
    case 1:
      return (pcm.readUInt8(at) - 128) / 128;
    case 2:
      return pcm.readInt16LE(at) / 32768;
    case 4:
      return pcm.readInt32LE(at) / 2147483648;
    default:
      throw new RangeError(`unsupported PCM sample width ${widthBytes} bytes`);
  }
}

function writeSample(out: Buffer, at: number, widthBytes: number, value: number): void {
  const v = Math.max(-1, Math.min(1, value));
  switch (widthBytes) {
    case 1:
      out.writeUInt8(Math.round(v * 127 + 128), at);
      return;
    case 2:
      out.writeInt16LE(Math.round(v * 32767), at);
      return;
    case 4:
      out.writeInt32LE(Math.round(v * 2147483647), at);
      return;
    default:
      throw new RangeError(`unsupported PCM sample width ${widthBytes} bytes`);
  }
}

/** Decodes interleaved PCM into one Float32Array per output channel (mono is averaged, upmix duplicates). */
function toPlanar(pcm: Buffer, from: AudioFormat, channels: number): Float32Array[] {
  const frames = Math.floor(pcm.length / (from.widthBytes * from.channels));
  const planes = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    const base = f * from.widthBytes * from.channels;
    const frame: number[] = [];
    for (let c = 0; c < from.channels; c++)
      frame.push(readSample(pcm, base + c * from.widthBytes, from.widthBytes));
    const mean = frame.reduce((a, b) => a + b, 0) / frame.length;
    for (let c = 0; c < channels; c++) {
      planes[c]![f] = channels === 1 ? mean : (frame[c] ?? frame[0] ?? 0);
    }
  }
  return planes;
}

/** Linear-interpolation resampling of one channel. Stateless per chunk: fine for speech, not for music. */
function resample(plane: Float32Array, fromHz: number, toHz: number): Float32Array {
  if (fromHz === toHz) return plane;
  const outLength = Math.round((plane.length * toHz) / fromHz);
  const out = new Float32Array(outLength);
  const step = fromHz / toHz;
  for (let i = 0; i < outLength; i++) {
    const pos = i * step;
    const i0 = Math.floor(pos);
    const a = plane[i0] ?? 0;
    const b = plane[i0 + 1] ?? a;
    out[i] = a + (b - a) * (pos - i0);
  }
  return out;
}

/**
 * Converts interleaved little-endian PCM from one AudioFormat to another (rate by linear interpolation,
 * channels by averaging or duplicating, width by scaling). Returns `pcm` itself when the formats match.
 * @throws RangeError for sample widths other than 1, 2 or 4 bytes.
 */
export function convertPcm(pcm: Buffer, from: AudioFormat, to: AudioFormat): Buffer {
  if (sameFormat(from, to)) return pcm;
  const planes = toPlanar(pcm, from, to.channels).map((p) => resample(p, from.rateHz, to.rateHz));
  const frames = planes[0]?.length ?? 0;
  const out = Buffer.alloc(frames * to.widthBytes * to.channels);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < to.channels; c++) {
      writeSample(out, (f * to.channels + c) * to.widthBytes, to.widthBytes, planes[c]![f]!);
    }
  }
  return out;
}
