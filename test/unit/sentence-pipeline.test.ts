/** The sentence pipeline: all sentences start at once, audio leaves in order, one format, first error wins. */
import { describe, expect, it } from 'vitest';
import type { AudioChunk } from '../../src/audio/format.js';
import { createSentencePipeline } from '../../src/wyoming/sentence-pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sentence pipeline', () => {
  it('starts every sentence at once and sends their audio in sentence order', async () => {
    const started: string[] = [];
    const sent: string[] = [];
    const delays: Record<string, number> = { a: 120, b: 10, c: 60 };
    const pipeline = createSentencePipeline({
      synthesize: async function* (text) {
        started.push(text);
        await sleep(delays[text] ?? 0); // simulated synthesis time, so sentences finish out of order
        yield { format: { rateHz: 16000, widthBytes: 2, channels: 1 }, pcm: Buffer.from(`${text}1`) };
        yield { format: { rateHz: 16000, widthBytes: 2, channels: 1 }, pcm: Buffer.from(`${text}2`) };
      },
      send: async (chunks) => {
        const parts: string[] = [];
        for await (const c of chunks) parts.push(c.pcm.toString());
        sent.push(parts.join(','));
      },
      signal: new AbortController().signal,
    });
    const t0 = Date.now();
    for (const s of ['a', 'b', 'c']) pipeline.push(s);
    expect(started).toEqual(['a', 'b', 'c']);
    await pipeline.finish();
    expect(sent).toEqual(['a1,a2', 'b1,b2', 'c1,c2']);
    // Overlapped: about the slowest sentence, not the sum of all three.
    expect(Date.now() - t0).toBeLessThan(180);
  });

  it('converts later groups to the first group’s format', async () => {
    const formats: number[] = [];
    const rates = [22050, 44100];
    let n = 0;
    const pipeline = createSentencePipeline({
      synthesize: async function* () {
        const rateHz = rates[n++] as number;
        yield { format: { rateHz, widthBytes: 2, channels: 1 }, pcm: Buffer.alloc((rateHz / 10) * 2) };
      },
      send: async (chunks: AsyncIterable<AudioChunk>) => {
        for await (const c of chunks) formats.push(c.format.rateHz, c.pcm.length);
      },
      signal: new AbortController().signal,
    });
    pipeline.push('x');
    pipeline.push('y');
    await pipeline.finish();
    expect(formats).toEqual([22050, 4410, 22050, 4410]);
  });

  it('reports the first failing sentence and stops the ones after it', async () => {
    const sent: string[] = [];
    let lateAborted = false;
    const pipeline = createSentencePipeline({
      synthesize: async function* (text, signal) {
        if (text === 'bad') throw new Error('engine broke');
        if (text === 'late') {
          await new Promise((r) => signal.addEventListener('abort', r));
          lateAborted = true;
          return;
        }
        yield { format: { rateHz: 8000, widthBytes: 2, channels: 1 }, pcm: Buffer.from(text) };
      },
      send: async (chunks) => {
        for await (const c of chunks) sent.push(c.pcm.toString());
      },
      signal: new AbortController().signal,
    });
    for (const s of ['ok', 'bad', 'late']) pipeline.push(s);
    await expect(pipeline.finish()).rejects.toThrow('engine broke');
    expect(sent).toEqual(['ok']);
    expect(lateAborted).toBe(true);
  });
});
