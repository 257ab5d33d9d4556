/** Sentence splitting on the announcement corpus and tricky cases (abbreviations, numbers, URLs, languages). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { splitSentences } from '../../src/say/sentences.js';
import { silentLog } from '../../src/shared/log.js';
import { createEngine } from '../../src/tts/engines/index.js';

describe('splitSentences', () => {
  it('keeps times, decimals and thousands inside sentences', () => {
    expect(splitSentences('Good morning. It is 7:15 and the outside temperature is 4.5 degrees.')).toEqual([
      'Good morning.',
      'It is 7:15 and the outside temperature is 4.5 degrees.',
    ]);
    expect(splitSentences('CO2 is at 1,450 ppm. It costs $3.50 today.')).toEqual([
      'CO2 is at 1,450 ppm.',
      'It costs $3.50 today.',
    ]);
  });

  it('does not split after title abbreviations or initials, but does after a.m./p.m. at a sentence end', () => {
    expect(
      splitSentences(
        "Dr. Smith's appointment was moved to Wed. at 3.30 p.m., see the e-mail from St. Mary's.",
      ),
    ).toEqual(["Dr. Smith's appointment was moved to Wed. at 3.30 p.m., see the e-mail from St. Mary's."]);
    expect(splitSentences('Mr. J. Smith called. Call back at 10 a.m. Tomorrow is fine.')).toEqual([
      'Mr. J. Smith called.',
      'Call back at 10 a.m.',
      'Tomorrow is fine.',
    ]);
    expect(splitSentences('Der Zug nach z.B. Berlin fährt um 8.30 Uhr. Gute Reise!', 'de')).toEqual([
      'Der Zug nach z.B. Berlin fährt um 8.30 Uhr.',
      'Gute Reise!',
    ]);
  });

  it('keeps URLs and e-mail addresses whole', () => {
    expect(splitSentences('Visit https://example.com/a.b?c=1. Then call me.')).toEqual([
      'Visit https://example.com/a.b?c=1.',
      'Then call me.',
    ]);
    expect(splitSentences('Version 2.0 is out! See www.site.org. Mail info@site.org? Bye')).toEqual([
      'Version 2.0 is out!',
      'See www.site.org.',
      'Mail info@site.org?',
      'Bye',
    ]);
  });

  it("splits other languages' punctuation", () => {
    expect(splitSentences('今日は晴れです。明日は雨でしょう。', 'ja')).toEqual([
      '今日は晴れです。',
      '明日は雨でしょう。',
    ]);
    expect(splitSentences('¿Dónde está? ¡Aquí! Vale.', 'es')).toEqual(['¿Dónde está?', '¡Aquí!', 'Vale.']);
    expect(splitSentences('Bonjour ! La porte du garage est restée ouverte.', 'fr')).toEqual([
      'Bonjour !',
      'La porte du garage est restée ouverte.',
    ]);
    expect(splitSentences('Это тест. Второе предложение!', 'ru')).toEqual([
      'Это тест.',
      'Второе предложение!',
    ]);
  });

  it('cuts an overlong sentence at a clause, and survives bad language tags and empty text', () => {
    const long = Array.from({ length: 40 }, (_, i) => `item number ${i}`).join(', ');
    const parts = splitSentences(`${long}.`, undefined, 120);
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.every((p) => p.length <= 120)).toBe(true);
    expect(parts.join(' ')).toBe(`${long}.`);
    expect(splitSentences('Hello there. Bye.', 'not a tag!')).toEqual(['Hello there.', 'Bye.']);
    expect(splitSentences('   ')).toEqual([]);
  });

  it('gives back every word of the shared corpus, in order', () => {
    // A copy of ../shared/corpus/announcements.txt kept in the repo, so the test reads it wherever it runs.
    const lines = readFileSync(new URL('../fixtures/announcements.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      const parts = splitSentences(line);
      expect(parts.join(' ').replace(/\s+/g, ' ')).toBe(line.trim().replace(/\s+/g, ' '));
      expect(parts.every((p) => !/^(Mary's|Smith's)/.test(p))).toBe(true);
    }
  });
});

describe('engine text mode', () => {
  const textMode = (type: string, transport: string) =>
    createEngine(
      EngineOptionsSchema.parse({
        name: 'e',
        type,
        transport,
        url: transport === 'wyoming' ? 'tcp://127.0.0.1:1' : 'http://127.0.0.1:1',
      }),
      {
        log: silentLog(),
      },
    ).textMode;

  it('gives engines that stream a whole text per sentence the whole text, the others one request per sentence', () => {
    for (const [type, transport] of [
      ['piper', 'cli'],
      ['xtts', 'xtts_stream'],
      ['pocket_tts', 'http'],
      ['pocket_tts', 'cli'],
    ] as const) {
      expect(textMode(type, transport)).toBe('whole-text');
    }
    for (const [type, transport] of [
      ['espeak', 'cli'],
      ['piper', 'wyoming'],
      ['piper', 'http'],
      ['xtts', 'xtts_api'],
      ['openai', 'openai'],
    ] as const) {
      expect(textMode(type, transport)).toBe('per-sentence');
    }
  });
});
