/** Live jobs (late joiners, restart on fallback, failure), the registry's aliases, and the loudness meter. */
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { applyGain, integratedLoudness, normalizationGainDb } from '../../src/audio/loudness.js';
import { createLiveRegistry, LiveJob } from '../../src/say/live-audio.js';
import { fadeEdges } from '../../src/say/speech.js';

const KEY = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function sine(rateHz: number, seconds: number, amplitude: number, hz = 997): Buffer {
  const frames = Math.round(rateHz * seconds);
  const pcm = Buffer.alloc(frames * 2);
  for (let i = 0; i < frames; i++) {
    pcm.writeInt16LE(Math.round(32767 * amplitude * Math.sin((2 * Math.PI * hz * i) / rateHz)), i * 2);
  }
  return pcm;
}

describe('LiveJob', () => {
  it('gives a late joiner the bytes so far, then live bytes, and ends every listener together', async () => {
    const job = new LiveJob(KEY, 'opus');
    const early = collect(job.subscribe());
    job.push(Buffer.from('one,'));
    const late = collect(job.subscribe());
    job.push(Buffer.from('two'));
    job.end();
    expect((await early).toString()).toBe('one,two');
    expect((await late).toString()).toBe('one,two');
    expect((await collect(job.subscribe())).toString()).toBe('one,two');
  });

  it('on restart breaks only listeners that had bytes; on failure breaks all and refuses new ones', async () => {
    const job = new LiveJob(KEY, 'opus');
    const fed = collect(job.subscribe());
    job.push(Buffer.from('engine A'));
    const waiting = collect(job.subscribe());
    // A listener that joined before any byte of a restarted attempt gets the new attempt.
    const job2 = new LiveJob(OTHER, 'opus');
    const patient = collect(job2.subscribe());
    job2.restart(new Error('fallback'));
    job2.push(Buffer.from('engine B'));
    job2.end();
    expect((await patient).toString()).toBe('engine B');
    job.restart(new Error('fallback'));
    await expect(fed).rejects.toThrow('fallback');
    // `waiting` had been given the bytes so far at subscribe time, so it is broken too.
    await expect(waiting).rejects.toThrow('fallback');
    const last = collect(job.subscribe());
    job.push(Buffer.from('partial'));
    job.fail(new Error('engine died'));
    await expect(last).rejects.toThrow('engine died');
    expect(() => job.subscribe()).toThrow(/failed/);
  });
});

describe('LiveRegistry', () => {
  it('finds jobs by key and format, refuses duplicates, and follows aliases after a fallback', () => {
    const registry = createLiveRegistry();
    const job = registry.create(KEY, 'opus');
    expect(registry.get(KEY, 'opus')).toBe(job);
    expect(registry.get(KEY, 'mp3')).toBeUndefined();
    expect(() => registry.create(KEY, 'opus')).toThrow(/already live/);
    registry.alias(KEY, OTHER, 'opus');
    const fallback = registry.create(OTHER, 'opus');
    expect(registry.find(KEY, 'opus')).toBe(job);
    registry.remove(job);
    // The first URL is served by the fallback's job; single-flight never joins across keys.
    expect(registry.get(KEY, 'opus')).toBe(fallback);
    expect(registry.find(KEY, 'opus')).toBeUndefined();
    registry.remove(fallback);
    expect(registry.get(KEY, 'opus')).toBeUndefined();
    expect(registry.resolve(KEY, 'opus')).toBe(OTHER);
    expect(registry.resolve(KEY, 'wav')).toBe(KEY);
    expect(registry.size()).toBe(0);
  });
});

describe('loudness (ITU-R BS.1770)', () => {
  it('measures a full-scale 997 Hz sine at −3.01 LUFS at 48 kHz and 22.05 kHz', () => {
    for (const rateHz of [48_000, 22_050]) {
      const loudness = integratedLoudness(sine(rateHz, 2, 1), { rateHz, widthBytes: 2, channels: 1 });
      expect(loudness).toBeCloseTo(-3.01, 1);
    }
  });

  it('brings a quiet tone to the target, keeps peaks below −1 dBFS, and ignores silence', () => {
    const format = { rateHz: 22_050, widthBytes: 2, channels: 1 };
    const quiet = sine(22_050, 1, 0.05);
    const gain = normalizationGainDb(quiet, format, -23);
    expect(integratedLoudness(applyGain(quiet, format, gain), format)).toBeCloseTo(-23, 0);
    const loud = sine(22_050, 1, 0.99);
    expect(normalizationGainDb(loud, format, 0)).toBeLessThanOrEqual(-0.9);
    expect(normalizationGainDb(Buffer.alloc(4000), format)).toBe(0);
  });

  it('fades sentence edges to zero without touching the middle', () => {
    const format = { rateHz: 22_050, widthBytes: 2, channels: 1 };
    const pcm = Buffer.alloc(2000, 0);
    for (let i = 0; i < 1000; i++) pcm.writeInt16LE(10_000, i * 2);
    const faded = fadeEdges(pcm, format);
    expect(faded.readInt16LE(0)).toBe(0);
    expect(Math.abs(faded.readInt16LE(1998))).toBeLessThan(300);
    expect(faded.readInt16LE(1000)).toBe(10_000);
  });
});
