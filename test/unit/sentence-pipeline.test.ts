/**
 * The sentence pipeline: the first sentence starts at once, the others once it has audio (or after a bounded
 * wait); audio leaves in order, one format, first error wins.
 */
import { describe, expect, it } from 'vitest';
import type { AudioChunk } from '../../src/audio/format.js';
import { createSentencePipeline } from '../../src/wyoming/sentence-pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sentence pipeline', () => {
  it('starts the later sentences together once the first has audio, and sends the audio in sentence order', async () => {
    const started: string[] = [];
    const sent: string[] = [];
    const t0 = Date.now();
    const startedAt: Record<string, number> = {};
    const delays: Record<string, number> = { a: 50, b: 150, c: 20 };
    const pipeline = createSentencePipeline({
      synthesize: async function* (text) {
        started.push(text);
        startedAt[text] = Date.now() - t0;
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
    for (const s of ['a', 'b', 'c']) pipeline.push(s);
    await sleep(0);
    // Only the first sentence runs while the listener waits for its audio.
    expect(started).toEqual(['a']);
    await pipeline.finish();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(startedAt.b).toBeGreaterThanOrEqual(45);
    expect(sent).toEqual(['a1,a2', 'b1,b2', 'c1,c2']);
    // b and c overlap: about a then the slower of b and c (200 ms), not the sum of all three (220 ms) or more.
    expect(Date.now() - t0).toBeLessThan(215);
  });

  it('starts the later sentences after the bounded wait when the first has no audio yet', async () => {
    const startedAt: Record<string, number> = {};
    const t0 = Date.now();
    const pipeline = createSentencePipeline({
      synthesize: async function* (text) {
        startedAt[text] = Date.now() - t0;
        await sleep(text === 'slow' ? 300 : 0); // a first sentence the engine takes long over
        yield { format: { rateHz: 16000, widthBytes: 2, channels: 1 }, pcm: Buffer.from(text) };
      },
      send: async (chunks) => {
        for await (const _c of chunks) {
          // read to the end
        }
      },
      signal: new AbortController().signal,
      firstAudioWaitMs: 80,
    });
    for (const s of ['slow', 'next']) pipeline.push(s);
    await pipeline.finish();
    expect(startedAt.next).toBeGreaterThanOrEqual(75);
    expect(startedAt.next).toBeLessThan(250);
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
        if (text === 'bad') {
          await sleep(30); // fails while 'late' is already being synthesized
          throw new Error('engine broke');
        }
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
