import { describe, expect, it } from 'vitest';
import { EngineOptionsSchema } from '../../src/config/schema.js';
import { isAppError } from '../../src/shared/errors.js';
import { silentLog } from '../../src/shared/log.js';
import { splitCommand } from '../../src/tts/engines/engine-errors.js';
import { parseEspeakVoices, resolveEspeakVoice, voiceForLanguage } from '../../src/tts/engines/espeak.js';
import { createEngine, engineTransport } from '../../src/tts/engines/index.js';

const VOICES_TEXT = [
  'Pty Language       Age/Gender VoiceName          File                 Other Languages',
  ' 5  de              --/M      German             gmw/de               ',
  ' 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)',
  ' 5  en-gb-x-gbclan  --/M      English_(Lancaster) gmw/en-GB-x-gbclan   (en-gb 3)(en 5)',
  ' 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)',
  ' 5  pt-br           --/M      Portuguese_(Brazil) roa/pt-BR            (pt 6)',
  '',
].join('\n');

function opts(o: Record<string, unknown>) {
  return EngineOptionsSchema.parse(o);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isAppError(err) ? err.code : 'not an AppError';
  }
  return undefined;
}

describe('espeak voice list', () => {
  const voices = parseEspeakVoices(VOICES_TEXT);

  it('names voices by the identifier -v takes, with other languages and the description', () => {
    expect(voices.map((v) => v.name)).toEqual(['de', 'en-gb', 'en-gb-x-gbclan', 'en-us', 'pt-br']);
    expect(voices[1]).toEqual({
      name: 'en-gb',
      languages: ['en-gb', 'en'],
      description: 'English (Great Britain)',
    });
    expect(voices[2]?.languages).toEqual(['en-gb-x-gbclan', 'en-gb', 'en']);
  });

  it('picks a voice for a language tag, falling back to the primary subtag', () => {
    expect(voiceForLanguage(voices, 'en_US')).toBe('en-us');
    expect(voiceForLanguage(voices, 'en')).toBe('en-gb');
    expect(voiceForLanguage(voices, 'de-AT')).toBe('de');
    expect(voiceForLanguage(voices, 'pt')).toBe('pt-br');
    expect(voiceForLanguage(voices, 'xx-YY')).toBeUndefined();
  });

  it('resolves identifiers, variants and voice names; unknown ones are undefined', () => {
    expect(resolveEspeakVoice(voices, 'EN-US')).toBe('en-us');
    expect(resolveEspeakVoice(voices, 'en-us+f3')).toBe('en-us+f3');
    expect(resolveEspeakVoice(voices, 'English_(America)')).toBe('en-us');
    expect(resolveEspeakVoice(voices, 'klingon')).toBeUndefined();
  });
});

describe('splitCommand', () => {
  it('splits words and keeps quoted groups', () => {
    expect(splitCommand('python -m piper')).toEqual(['python', '-m', 'piper']);
    expect(splitCommand(`"/opt/my tts/bin" -x 'a b' c""`)).toEqual(['/opt/my tts/bin', '-x', 'a b', 'c']);
  });
  it('refuses empty commands and unbalanced quotes', () => {
    expect(codeOf(() => splitCommand('  '))).toBe('CONFIG_INVALID');
    expect(codeOf(() => splitCommand('python "-m'))).toBe('CONFIG_INVALID');
  });
});

describe('createEngine', () => {
  const deps = { log: silentLog() };

  it('builds each type with its default transport', () => {
    expect(engineTransport(opts({ name: 'p', type: 'piper' }))).toBe('wyoming');
    expect(engineTransport(opts({ name: 'x', type: 'xtts' }))).toBe('xtts_api');
    expect(engineTransport(opts({ name: 'k', type: 'pocket_tts' }))).toBe('http');
    const e = createEngine(opts({ name: 'espeak', type: 'espeak', voice: 'de' }), deps);
    expect([e.name, e.type]).toEqual(['espeak', 'espeak']);
  });

  it('refuses an unknown transport with CONFIG_INVALID naming the valid ones', () => {
    try {
      createEngine(opts({ name: 'p', type: 'piper', transport: 'carrier_pigeon' }), deps);
      expect.unreachable();
    } catch (err) {
      expect(isAppError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain('wyoming, http, cli');
    }
  });
});
