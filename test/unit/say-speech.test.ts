/**
 * speak() in per-sentence mode: when the engine is asked for each sentence. The next sentence is asked for
 * once the consumer (the encoder) has taken the current one and its output has caught up (an ffmpeg encoder
 * takes PCM at once and encodes it later), or after a bounded wait when that does not happen.
 */
import { describe, expect, it } from 'vitest';
import type { AudioChunk } from '../../src/audio/format.js';
import { createPhraseCache } from '../../src/say/phrases.js';
import { type SpeechPlan, speak } from '../../src/say/speech.js';
import type { Engine } from '../../src/tts/engine.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FORMAT = { rateHz: 16000, widthBytes: 2, channels: 1 };

/** An engine that answers each sentence after 10 ms (simulated synthesis) and records when it was asked. */
function fakeEngine(asked: Map<string, number>, t0: number): Engine {
  return {
    name: 'fake',
    type: 'espeak',
    async *synthesize(request) {
      asked.set(request.text, performance.now() - t0);
      await sleep(10);
      yield { format: FORMAT, pcm: Buffer.alloc(320) };
    },
    voices: async () => [],
    probe: async () => ({ healthy: true, checkedAt: Date.now() }),
  };
}

function plan(engine: Engine, sentences: string[]): SpeechPlan {
  return {
    engine,
    voice: { engine: 'fake', voice: undefined, speaker: undefined, language: undefined },
    text: sentences.join(' '),
    sentences,
    mode: 'per-sentence',
    phrases: createPhraseCache(),
    lookups: false,
    loudnorm: false,
  };
}

/** Reads `chunks`, spending `holdMs` on each one before asking for the next (an encoder at work). */
async function consume(chunks: AsyncIterable<AudioChunk>, holdMs: number): Promise<number> {
  let n = 0;
  for await (const _chunk of chunks) {
    n++;
    await sleep(holdMs);
  }
  return n;
}

describe('speak, per sentence', () => {
  it('asks for the next sentence only once the consumer took the current one', async () => {
    const asked = new Map<string, number>();
    const t0 = performance.now();
    const sentences = ['One.', 'Two.', 'Three.', 'Four.'];
    const n = await consume(speak(plan(fakeEngine(asked, t0), sentences), new AbortController().signal), 40);
    expect(n).toBe(4);
    // Sentence k+1 is asked for after sentence k was held 40 ms by the consumer (not while it encodes).
    for (let k = 2; k < sentences.length; k++) {
      const gap = (asked.get(sentences[k] as string) ?? 0) - (asked.get(sentences[k - 1] as string) ?? 0);
      expect(gap).toBeGreaterThanOrEqual(45);
    }
  });

  it('does not let a stalled consumer hold the engine up for more than the bounded wait', async () => {
    const asked = new Map<string, number>();
    const t0 = performance.now();
    const sentences = ['One.', 'Two.', 'Three.'];
    await consume(speak(plan(fakeEngine(asked, t0), sentences), new AbortController().signal), 400);
    const gap = (asked.get('Two.') ?? 0) - (asked.get('One.') ?? 0);
    // One. is answered after 10 ms; Two. is asked for ~100 ms later although the consumer holds One. 400 ms.
    expect(gap).toBeGreaterThanOrEqual(90);
    expect(gap).toBeLessThan(300);
  });

  it('waits for the encoder output to catch up after the first sentence (ffmpeg takes PCM at once)', async () => {
    const asked = new Map<string, number>();
    const t0 = performance.now();
    const sentences = ['One.', 'Two.', 'Three.'];
    // An encoder whose output catches up 50 ms after each sentence is handed over.
    let handedAt = 0;
    const encoded = async (): Promise<void> => {
      await sleep(Math.max(0, handedAt + 50 - performance.now()));
    };
    const p = { ...plan(fakeEngine(asked, t0), sentences), encoded };
    for await (const _chunk of speak(p, new AbortController().signal)) handedAt = performance.now();
    const gap = (k: number): number =>
      (asked.get(sentences[k] as string) ?? 0) - (asked.get(sentences[k - 1] as string) ?? 0);
    // 10 ms of synthesis, then 50 ms until the encoder caught up (and not the 100 ms bound).
    expect(gap(1)).toBeGreaterThanOrEqual(55);
    expect(gap(1)).toBeLessThan(100);
    // Later sentences: the consumer took the sentence; the listener is ahead by then.
    expect(gap(2)).toBeLessThan(40);
  });
});
