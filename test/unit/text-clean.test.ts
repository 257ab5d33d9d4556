/**
 * LLM text clean-up (src/tts/text-clean.ts): a realistic conversation-agent answer (heading, Markdown list with
 * bold, a link, a code fence, a bare URL, emoji) becomes plain speakable text (golden); options and the request
 * path (the cache key hashes the cleaned text).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { toSayRequest } from '../../src/inputs/say-payload.js';
import { cleanText, stripEmoji } from '../../src/say/text-clean.js';
import { isAppError } from '../../src/shared/errors.js';

const answer = readFileSync(new URL('../fixtures/llm-answer.md', import.meta.url), 'utf8');

const GOLDEN =
  "Your evening summary. Here's what's going on at home right now: Living room: 21.5 °C, the lights are on. " +
  'Front door: locked — nothing to do. Washing machine: finished at 18:40, see the laundry dashboard. ' +
  'Take the laundry out. Close the garage window. Tip: say "good night" to turn everything off. ' +
  'More about scenes: link. Have a nice evening!';

describe('cleanText', () => {
  it('turns an LLM answer into plain speakable text (golden)', () => {
    expect(cleanText(answer)).toBe(GOLDEN);
  });

  it('drops URLs when asked, keeping link texts', () => {
    const dropped = cleanText(answer, { urls: 'drop' });
    expect(dropped).toContain('see the laundry dashboard.');
    expect(dropped).toContain('More about scenes: Have a nice evening!');
    expect(dropped).not.toMatch(/link|http|www/);
  });

  it('leaves plain announcements as they are', () => {
    for (const text of ['The washing machine has finished.', 'Dinner is ready! Come to the kitchen.']) {
      expect(cleanText(text)).toBe(text);
    }
  });

  it('decodes entities, keeps inline code and e-mail addresses, reads tables by row', () => {
    const text =
      'AT&amp;T: turn on `light.kitchen`, mail me@example.com\n\n| Room | Temp |\n|---|---|\n| Kitchen | 21 °C |';
    expect(cleanText(text)).toBe(
      'AT&T: turn on light.kitchen, mail me@example.com. Room, Temp. Kitchen, 21 °C.',
    );
  });

  it('removes emoji sequences: ZWJ families, skin tones, flags, keycaps', () => {
    expect(stripEmoji('Hi 👋🏽 👨‍👩‍👧 🇩🇪 ✅ ☔').trim()).toBe('Hi');
    expect(cleanText('Hi 👋🏽 family 👨‍👩‍👧 in 🇩🇪!')).toBe('Hi family in!');
  });

  it('stays linear on hostile Markdown of the longest allowed text (100,000 characters)', () => {
    // marked took 14 s on `_a` runs and overflowed its stack on nesting; micromark minutes on `*[` runs.
    for (const unit of ['*[', '_a', 'a_', '> - ', '[a](', '![', '`a', '**a ']) {
      const hostile = unit.repeat(100_000 / unit.length);
      const t0 = performance.now();
      expect(typeof cleanText(hostile)).toBe('string');
      expect(performance.now() - t0, unit).toBeLessThan(5000);
    }
  });
});

describe('clean-up on the request path', () => {
  it('cleans when the request or the input default says so, and hashes the cleaned text', () => {
    const plain = toSayRequest({ text: answer }, 2000);
    expect(plain.clean).toBe(false);
    const cleaned = toSayRequest({ text: answer, clean: true }, 2000);
    expect(cleaned.text).toBe(GOLDEN);
    const byDefault = toSayRequest({ text: answer }, 2000, { format: 'mp3', clean: true, urls: 'link' });
    expect(byDefault).toMatchObject({ text: GOLDEN, format: 'mp3', clean: true });
    const overridden = toSayRequest({ text: answer, clean: false }, 2000, {
      format: 'opus',
      clean: true,
      urls: 'link',
    });
    expect(overridden.text).not.toBe(GOLDEN);
    const key = (text: string) => cacheKey({ engine: 'espeak', voice: '', format: 'opus', text });
    expect(key(cleaned.text)).toBe(key(GOLDEN));
  });

  it('answers TEXT_EMPTY when nothing speakable is left', () => {
    try {
      toSayRequest({ text: '```\ncode only\n```\n\n🎉', clean: true }, 2000);
      expect.unreachable();
    } catch (err) {
      expect(isAppError(err, 'TEXT_EMPTY')).toBe(true);
    }
  });
});
