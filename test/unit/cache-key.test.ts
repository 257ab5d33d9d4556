import { describe, expect, it } from 'vitest';
import { ioError } from '../../src/cache/files.js';
import { type CacheKeyInput, cacheKey, isCacheKey, normalizeText } from '../../src/cache/key.js';
import { isAppError } from '../../src/shared/errors.js';

const BASE: CacheKeyInput = {
  engine: 'piper',
  voice: 'en_US-joe-medium',
  speaker: undefined,
  language: 'en_US',
  format: 'opus',
  text: 'The washing machine has finished.',
};

describe('cacheKey', () => {
  it('is 64 lowercase hex digits and stable', () => {
    const key = cacheKey(BASE);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...BASE })).toBe(key);
  });

  it('ignores whitespace differences and Unicode composition in the text', () => {
    expect(cacheKey({ ...BASE, text: '  The washing\n machine\thas   finished. ' })).toBe(cacheKey(BASE));
    const composed = cacheKey({ ...BASE, text: 'Caf\u00e9 is open' });
    expect(cacheKey({ ...BASE, text: 'Cafe\u0301 is open' })).toBe(composed);
    expect(normalizeText(' a \u00a0 b\n')).toBe('a b');
  });

  it.each([
    ['engine', { engine: 'espeak' }],
    ['voice', { voice: 'en_US-lessac-medium' }],
    ['speaker', { speaker: '3' }],
    ['language', { language: 'en_GB' }],
    ['format', { format: 'mp3' as const }],
    ['text', { text: 'The dryer has finished.' }],
    ['engine options', { engineOptions: { length_scale: 1.2 } }],
  ])('changes when the %s changes', (_name, change) => {
    expect(cacheKey({ ...BASE, ...change })).not.toBe(cacheKey(BASE));
  });

  it('does not depend on the order of engine option keys', () => {
    expect(cacheKey({ ...BASE, engineOptions: { a: 1, b: { c: 2, d: 3 } } })).toBe(
      cacheKey({ ...BASE, engineOptions: { b: { d: 3, c: 2 }, a: 1 } }),
    );
  });
});

describe('isCacheKey', () => {
  it('accepts only 64 lowercase hex digits', () => {
    expect(isCacheKey(cacheKey(BASE))).toBe(true);
    for (const bad of [
      '',
      'abc',
      '../../etc/passwd',
      cacheKey(BASE).toUpperCase(),
      `${cacheKey(BASE)}0`,
      42,
      null,
    ]) {
      expect(isCacheKey(bad)).toBe(false);
    }
  });
});

describe('ioError', () => {
  it('maps ENOSPC to DISK_FULL and other errors to CACHE_IO, keeping the cause', () => {
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const e1 = ioError(full, 'write', '/share/cache/ab/x.opus');
    expect(isAppError(e1, 'DISK_FULL')).toBe(true);
    expect(e1.cause).toBe(full);
    const denied = Object.assign(new Error('permission denied'), { code: 'EACCES' });
    expect(isAppError(ioError(denied, 'write', '/x'), 'CACHE_IO')).toBe(true);
  });
});
