/**
 * The in-process resampler (Speex through `speex-resampler`'s WebAssembly): exact output lengths, the same
 * output for the same input (no state carried between streams), partial frames kept, and no process-wide
 * listeners left behind by Emscripten's Node glue.
 */
import { describe, expect, it } from 'vitest';
import { createResampler } from '../../src/audio/resampler.js';

/** `ms` of a 440 Hz tone at `rateHz`, s16le mono. */
function tone(rateHz: number, ms: number): Buffer {
  const n = Math.round((rateHz * ms) / 1000);
  const pcm = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++)
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rateHz)), i * 2);
  return pcm;
}

/** Level of frequency `hz` in s16le mono `pcm` at `rateHz` (Goertzel), as the amplitude of a sine. */
function levelAt(pcm: Buffer, hz: number, rateHz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rateHz);
  let s1 = 0;
  let s2 = 0;
  const n = pcm.length / 2;
  for (let i = 0; i < n; i++) {
    const s0 = pcm.readInt16LE(i * 2) + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (2 * Math.sqrt(s1 * s1 + s2 * s2 - k * s1 * s2)) / n;
}

async function resample(pcm: Buffer, fromHz: number, toHz: number, pieceBytes: number): Promise<Buffer> {
  const r = await createResampler(fromHz, toHz, 1);
  const out: Buffer[] = [];
  for (let at = 0; at < pcm.length; at += pieceBytes) out.push(r.push(pcm.subarray(at, at + pieceBytes)));
  out.push(r.finish());
  r.release();
  return Buffer.concat(out);
}

describe('resampler', () => {
  it('gives exactly round(frames × ratio) frames for the engines’ rates', async () => {
    for (const [from, to] of [
      [22050, 24000],
      [16000, 24000],
      [44100, 48000],
    ] as const) {
      const input = tone(from, 1234);
      const out = await resample(input, from, to, 4410);
      expect(out.length / 2).toBe(Math.round(((input.length / 2) * to) / from));
    }
  });

  it('keeps the tone: same level and no state carried from one stream to the next', async () => {
    const input = tone(22050, 500);
    const a = await resample(input, 22050, 24000, 882);
    const b = await resample(input, 22050, 24000, 882);
    expect(b.equals(a)).toBe(true);
    // RMS of a 8000-peak sine is about 5657; the filter's passband keeps 440 Hz intact.
    let sum = 0;
    for (let i = 200; i < a.length / 2 - 200; i++) sum += a.readInt16LE(i * 2) ** 2;
    expect(Math.sqrt(sum / (a.length / 2 - 400))).toBeGreaterThan(5400);
  });

  it('passes speech frequencies up to 9 kHz and keeps their images 60 dB down (22,050 → 24,000 Hz)', async () => {
    const n = 22050;
    const input = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++)
      input.writeInt16LE(Math.round(10000 * Math.sin((2 * Math.PI * 9000 * i) / n)), i * 2);
    const out = (await resample(input, 22050, 24000, 4410)).subarray(2000, -2000);
    const tone = levelAt(out, 9000, 24000);
    // The image of 9 kHz at 22,050 − 9,000 Hz lies above 12 kHz and folds back to 24,000 − 13,050 = 10,950 Hz.
    const image = levelAt(out, 10950, 24000);
    expect(20 * Math.log10(tone / 10000)).toBeGreaterThan(-1);
    expect(20 * Math.log10(image / tone)).toBeLessThan(-60);
  });

  it('keeps a partial frame for the next push (odd byte counts)', async () => {
    const input = tone(22050, 300);
    const whole = await resample(input, 22050, 24000, 4410);
    const odd = await resample(input, 22050, 24000, 1001);
    expect(odd.equals(whole)).toBe(true);
  });

  it('leaves no uncaughtException or unhandledRejection listener behind', async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    (await createResampler(8000, 24000, 1)).release();
    expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(
      before,
    );
  });
});
