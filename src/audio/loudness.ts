/**
 * Loudness of PCM in process, after ITU-R BS.1770-4 (the measure EBU R128 uses): K-weighting (a high shelf
 * near 1.7 kHz and a high-pass near 38 Hz, designed for any sample rate), mean square over 400 ms blocks
 * with 75 % overlap, an absolute gate at −70 LUFS and a relative gate 10 LU below the mean. Used to bring
 * every engine's speech to one level sentence by sentence, without the look-ahead of ffmpeg's `loudnorm`
 * (which would hold back the first audio by seconds).
 */
import type { AudioFormat } from './format.js';

/**
 * Target loudness of normalized speech, in LUFS: EBU R128's −23. Engines such as Piper and espeak-ng already
 * peak near full scale, so a louder target could only be reached by clipping; raise `gain_db` on top if needed.
 */
export const SPEECH_TARGET_LUFS = -23;
/** Largest gain normalization applies either way, in dB. */
const MAX_GAIN_DB = 20;
/** Peaks are kept at or below this after gain, in dBFS. */
const PEAK_CEILING_DBFS = -1;

interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

/** The two K-weighting stages for `rateHz` (BS.1770-4 Table 1 and 2, bilinear design for any rate). */
function kWeighting(rateHz: number): [Biquad, Biquad] {
  const shelfK = Math.tan((Math.PI * 1681.974450955533) / rateHz);
  const q1 = 0.7071752369554196;
  const vh = 10 ** (3.999843853973347 / 20);
  const vb = vh ** 0.4996667741545416;
  const d1 = 1 + shelfK / q1 + shelfK * shelfK;
  const shelf: Biquad = {
    b0: (vh + (vb * shelfK) / q1 + shelfK * shelfK) / d1,
    b1: (2 * (shelfK * shelfK - vh)) / d1,
    b2: (vh - (vb * shelfK) / q1 + shelfK * shelfK) / d1,
    a1: (2 * (shelfK * shelfK - 1)) / d1,
    a2: (1 - shelfK / q1 + shelfK * shelfK) / d1,
  };
  const hpK = Math.tan((Math.PI * 38.13547087602444) / rateHz);
  const q2 = 0.5003270373238773;
  const d2 = 1 + hpK / q2 + hpK * hpK;
  const highPass: Biquad = {
    b0: 1,
    b1: -2,
    b2: 1,
    a1: (2 * (hpK * hpK - 1)) / d2,
    a2: (1 - hpK / q2 + hpK * hpK) / d2,
  };
  return [shelf, highPass];
}

function filter(x: Float64Array, f: Biquad): Float64Array {
  const y = new Float64Array(x.length);
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i] as number;
    const y0 = f.b0 * x0 + f.b1 * x1 + f.b2 * x2 - f.a1 * y1 - f.a2 * y2;
    y[i] = y0;
    x2 = x1;
    x1 = x0;
    y2 = y1;
    y1 = y0;
  }
  return y;
}

/** Channel planes of 16-bit PCM as floats in −1..1. Other widths are not measured (undefined). */
function planes(pcm: Buffer, format: AudioFormat): Float64Array[] | undefined {
  if (format.widthBytes !== 2) return undefined;
  const frames = Math.floor(pcm.length / (2 * format.channels));
  const out = Array.from({ length: format.channels }, () => new Float64Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < format.channels; c++) {
      (out[c] as Float64Array)[i] = pcm.readInt16LE((i * format.channels + c) * 2) / 32768;
    }
  }
  return out;
}

/** Mean square per 400 ms block (100 ms step), summed over channels; one block when shorter. */
function blockPowers(weighted: Float64Array[], rateHz: number): number[] {
  const frames = weighted[0]?.length ?? 0;
  const block = Math.round(rateHz * 0.4);
  const step = Math.round(rateHz * 0.1);
  const powers: number[] = [];
  const starts = frames <= block ? [0] : [];
  for (let s = 0; s + block <= frames; s += step) starts.push(s);
  for (const start of starts) {
    const end = Math.min(frames, start + block);
    let sum = 0;
    for (const ch of weighted) {
      let acc = 0;
      for (let i = start; i < end; i++) acc += (ch[i] as number) ** 2;
      sum += acc / Math.max(1, end - start);
    }
    powers.push(sum);
  }
  return powers;
}

const toLufs = (power: number): number => -0.691 + 10 * Math.log10(power);

/**
 * Gated integrated loudness of 16-bit PCM in LUFS (BS.1770-4). Returns undefined for silence (every block
 * below −70 LUFS), empty input, or a sample width other than 2 bytes.
 */
export function integratedLoudness(pcm: Buffer, format: AudioFormat): number | undefined {
  const chans = planes(pcm, format);
  if (!chans || (chans[0]?.length ?? 0) === 0) return undefined;
  const [shelf, highPass] = kWeighting(format.rateHz);
  const weighted = chans.map((c) => filter(filter(c, shelf), highPass));
  const powers = blockPowers(weighted, format.rateHz).filter((p) => p > 0 && toLufs(p) > -70);
  if (powers.length === 0) return undefined;
  const relativeGate = toLufs(powers.reduce((a, b) => a + b, 0) / powers.length) - 10;
  const gated = powers.filter((p) => toLufs(p) > relativeGate);
  return toLufs(gated.reduce((a, b) => a + b, 0) / gated.length);
}

/** The largest absolute sample of 16-bit PCM, 0–1. */
function peak(pcm: Buffer): number {
  let max = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) max = Math.max(max, Math.abs(pcm.readInt16LE(i)));
  return max / 32768;
}

/**
 * The gain in dB that brings 16-bit `pcm` to `targetLufs`, limited to ±20 dB and so that peaks stay at or
 * below −1 dBFS. 0 for silence or other sample widths.
 */
export function normalizationGainDb(
  pcm: Buffer,
  format: AudioFormat,
  targetLufs = SPEECH_TARGET_LUFS,
): number {
  const loudness = integratedLoudness(pcm, format);
  if (loudness === undefined) return 0;
  const wanted = Math.max(-MAX_GAIN_DB, Math.min(MAX_GAIN_DB, targetLufs - loudness));
  const p = peak(pcm);
  const headroom = p > 0 ? PEAK_CEILING_DBFS - 20 * Math.log10(p) : MAX_GAIN_DB;
  return Math.min(wanted, headroom);
}

/** A copy of 16-bit `pcm` scaled by `gainDb` (clamped to the sample range); other widths are returned as is. */
export function applyGain(pcm: Buffer, format: AudioFormat, gainDb: number): Buffer {
  if (format.widthBytes !== 2 || gainDb === 0) return pcm;
  const factor = 10 ** (gainDb / 20);
  const out = Buffer.allocUnsafe(pcm.length - (pcm.length % 2));
  for (let i = 0; i < out.length; i += 2) {
    out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm.readInt16LE(i) * factor))), i);
  }
  return out;
}
