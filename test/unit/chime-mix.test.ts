/** The chime mixer's timeline: lengths, overlaps, silence, streaming order and formats (pure PCM, no ffmpeg). */
import { describe, expect, it } from 'vitest';
import type { AudioChunk, AudioFormat } from '../../src/audio/format.js';
import { type MixPlan, mixAround } from '../../src/chimes/mix.js';

const F: AudioFormat = { rateHz: 1000, widthBytes: 2, channels: 1 };

/** `n` samples of value `v` (s16le). */
function pcm(n: number, v: number): Buffer {
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(v, i * 2);
  return b;
}

function samples(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) out.push(b.readInt16LE(i));
  return out;
}

async function* chunks(...parts: Buffer[]): AsyncGenerator<AudioChunk> {
  for (const p of parts) yield { format: F, pcm: p };
}

async function collect(it: AsyncIterable<AudioChunk>): Promise<{ all: number[]; parts: AudioChunk[] }> {
  const parts: AudioChunk[] = [];
  for await (const c of it) parts.push(c);
  return { all: samples(Buffer.concat(parts.map((p) => p.pcm))), parts };
}

const plan = (p: Partial<MixPlan>): MixPlan => ({ format: F, leadInMs: 0, offsetMs: 0, ...p });

describe('mixAround', () => {
  it('puts lead-in, chime, gap, speech, gap, closing chime in order with exact lengths', async () => {
    const { all } = await collect(
      mixAround(
        chunks(pcm(30, 100)),
        plan({ leadInMs: 5, before: pcm(10, 1), after: pcm(7, 2), offsetMs: 4 }),
      ),
    );
    expect(all).toEqual([
      ...Array(5).fill(0),
      ...Array(10).fill(1),
      ...Array(4).fill(0),
      ...Array(30).fill(100),
      ...Array(4).fill(0),
      ...Array(7).fill(2),
    ]);
  });

  it('overlaps with a negative offset: the samples are summed, the length shrinks by the overlap twice', async () => {
    const { all } = await collect(
      mixAround(chunks(pcm(20, 100)), plan({ before: pcm(10, 1), after: pcm(10, 2), offsetMs: -3 })),
    );
    expect(all).toHaveLength(10 + 20 + 10 - 6);
    expect(all.slice(0, 7)).toEqual(Array(7).fill(1));
    expect(all.slice(7, 10)).toEqual(Array(3).fill(101));
    expect(all.slice(10, 24)).toEqual(Array(14).fill(100));
    expect(all.slice(24, 27)).toEqual(Array(3).fill(102));
    expect(all.slice(27)).toEqual(Array(7).fill(2));
  });

  it('clips sums to 16 bits', async () => {
    const { all } = await collect(
      mixAround(chunks(pcm(4, 30000)), plan({ before: pcm(4, 10000), offsetMs: -4 })),
    );
    expect(all).toEqual([32767, 32767, 32767, 32767]);
  });

  it('yields the chime before the speech is first read', async () => {
    let read = false;
    async function* speech(): AsyncGenerator<AudioChunk> {
      read = true;
      yield { format: F, pcm: pcm(5, 9) };
    }
    const it = mixAround(speech(), plan({ leadInMs: 2, before: pcm(6, 1), offsetMs: -2 }));
    const first = await it.next();
    expect(read).toBe(false);
    // Lead-in and the chime minus the 2 samples that will overlap the speech.
    expect(samples((first.value as AudioChunk).pcm)).toEqual([0, 0, 1, 1, 1, 1]);
    const rest = await collect({ [Symbol.asyncIterator]: () => it });
    expect(rest.all).toEqual([10, 10, 9, 9, 9]);
  });

  it('holds back only the overlap of a closing chime while speech streams', async () => {
    const { parts } = await collect(
      mixAround(chunks(pcm(10, 5), pcm(10, 6)), plan({ after: pcm(4, 1), offsetMs: -3 })),
    );
    expect(parts.map((p) => p.pcm.length / 2)).toEqual([7, 10, 4]);
  });

  it('converts speech to the chime format (16-bit mono at the chime rate)', async () => {
    const stereo22: AudioFormat = { rateHz: 2000, widthBytes: 2, channels: 2 };
    async function* speech(): AsyncGenerator<AudioChunk> {
      yield { format: stereo22, pcm: pcm(40, 50) }; // 20 stereo frames at 2 kHz = 10 ms
    }
    const { all, parts } = await collect(mixAround(speech(), plan({ before: pcm(5, 1) })));
    expect(parts.every((p) => p.format.rateHz === 1000 && p.format.channels === 1)).toBe(true);
    expect(all).toHaveLength(5 + 10);
  });

  it('with only a lead-in keeps the speech format and prepends silence', async () => {
    const f22: AudioFormat = { rateHz: 22050, widthBytes: 2, channels: 1 };
    async function* speech(): AsyncGenerator<AudioChunk> {
      yield { format: f22, pcm: pcm(100, 7) };
    }
    const { all, parts } = await collect(mixAround(speech(), plan({ leadInMs: 10 })));
    expect(parts[0]?.format).toEqual(f22);
    expect(all.slice(0, 221)).toEqual(Array(221).fill(0));
    expect(all.slice(221)).toEqual(Array(100).fill(7));
  });

  it('fails like an engine without audio when the speech is empty, chime or not', async () => {
    await expect(collect(mixAround(chunks(), plan({ before: pcm(5, 1) })))).rejects.toMatchObject({
      code: 'ENGINE_FAILED',
    });
  });
});
