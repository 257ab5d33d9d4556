/**
 * The one sentence splitter's incremental interface (push/finish) and its time on hostile text: pieces of any
 * size give the sentences the whole text gives, and a megabyte of adversarial text splits in bounded time with
 * bounded held-back text (the splitter before issue 10 took 23 s for "a." × 50,000; the Wyoming server's
 * regex took 15 s for 60,000 "!").
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createSentenceSplitter,
  LOOKAHEAD_CHARS,
  MAX_SENTENCE_CHARS,
  splitSentences,
  WINDOW_CHARS,
} from '../../src/say/sentences.js';

/** Splits `text` pushed in pieces of `size` characters; returns the sentences and the most text held back. */
function splitInPieces(text: string, size: number): { sentences: string[]; maxPending: number } {
  const splitter = createSentenceSplitter();
  const sentences: string[] = [];
  let maxPending = 0;
  for (let i = 0; i < text.length; i += size) {
    for (const s of splitter.push(text.slice(i, i + size))) sentences.push(s);
    maxPending = Math.max(maxPending, splitter.pendingChars);
  }
  for (const s of splitter.finish()) sentences.push(s);
  return { sentences, maxPending };
}

const corpus = readFileSync(new URL('../fixtures/announcements.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'));

describe('createSentenceSplitter', () => {
  it('gives a sentence as soon as the next one has started, and the rest at finish', () => {
    const splitter = createSentenceSplitter();
    expect(splitter.push('Good morning')).toEqual([]);
    expect(splitter.push('. It is 7')).toEqual(['Good morning.']);
    expect(splitter.push(':15 and sunny.')).toEqual([]);
    expect(splitter.push(' Dr. Smith')).toEqual(['It is 7:15 and sunny.']);
    expect(splitter.push(' called.')).toEqual([]);
    expect(splitter.finish()).toEqual(['Dr. Smith called.']);
    expect(splitter.finish()).toEqual([]);
    expect(() => splitter.push('more')).toThrow(/after finish/);
  });

  it('pushed in pieces of any size, gives exactly the sentences of the whole text (shared corpus)', () => {
    const texts = [...corpus, corpus.join(' '), corpus.join('\n')];
    for (const text of texts) {
      const whole = splitSentences(text);
      for (const size of [1, 5, 64]) expect(splitInPieces(text, size).sentences).toEqual(whole);
    }
  });

  it('does not settle "etc." or a URL until what follows decides it', () => {
    const splitter = createSentenceSplitter();
    expect(splitter.push('Bring bread, milk, etc. ')).toEqual([]);
    expect(splitter.push('and cheese. Visit https://example.com/a?b')).toEqual([
      'Bring bread, milk, etc. and cheese.',
    ]);
    expect(splitter.push('=1 now. Done')).toEqual(['Visit https://example.com/a?b=1 now.']);
    expect(splitter.finish()).toEqual(['Done']);
  });

  it('cuts a sentence that grows past maxChars without waiting for its end', () => {
    const splitter = createSentenceSplitter({ maxChars: 40 });
    const out = splitter.push('one two three four five six seven eight nine ten eleven twelve thirteen ');
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((s) => s.length <= 40)).toBe(true);
    expect(splitter.pendingChars).toBeLessThanOrEqual(40 + WINDOW_CHARS);
    const rest = splitter.finish();
    expect([...out, ...rest].join(' ')).toBe(
      'one two three four five six seven eight nine ten eleven twelve thirteen',
    );
  });
});

describe('splitting a megabyte of adversarial text', () => {
  const MB = 1 << 20;
  const cases: Array<[string, string]> = [
    ['"a." × 524,288 (no sentence end ICU accepts)', 'a.'.repeat(MB / 2)],
    ['60,000 "!" then words', `${'!'.repeat(60_000)}${' x'.repeat((MB - 60_000) / 2)}`],
    ['no sentence end at all', 'word '.repeat(MB / 5)],
    ['one huge single word', 'x'.repeat(MB)],
    ['an initial every 3 characters', 'A. '.repeat(Math.floor(MB / 3))],
    ['a "?" boundary every 2 characters', 'a?'.repeat(MB / 2)],
    ['boundaries followed by digits only', `Go. ${'1 '.repeat(MB / 2)}`],
  ];

  for (const [name, text] of cases) {
    it(`${name}: linear time, bounded held-back text, every character kept`, () => {
      for (const size of [text.length, 4096]) {
        const t0 = performance.now();
        const { sentences, maxPending } = splitInPieces(text, size);
        const ms = performance.now() - t0;
        // About 0.1–1 s on a loaded 2-core machine; the splitters before issue 10 took minutes on most of these.
        expect(ms).toBeLessThan(8000);
        expect(maxPending).toBeLessThanOrEqual(MAX_SENTENCE_CHARS + LOOKAHEAD_CHARS + WINDOW_CHARS);
        expect(sentences.every((s) => s.length > 0 && s.length <= MAX_SENTENCE_CHARS)).toBe(true);
        expect(sentences.join('').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
      }
    });
  }

  it('gives the expected sentences for the adversarial shapes', () => {
    // No space to cut at: a piece of maxChars / 2 while more than maxChars are left.
    expect(splitSentences('a.'.repeat(300))).toEqual(['a.'.repeat(100), 'a.'.repeat(200)]);
    expect(splitSentences(`${'!'.repeat(500)} Hello.`)).toEqual(['!'.repeat(200), '!'.repeat(300), 'Hello.']);
    expect(splitSentences('a?a?a? b.')).toEqual(['a?', 'a?', 'a?', 'b.']);
  });
});
