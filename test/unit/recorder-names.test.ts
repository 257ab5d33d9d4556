import { describe, expect, it } from 'vitest';
import { checkDevice, filePath, locate, newRecordingId, parseFileName } from '../../src/recorder/names.js';
import { isAppError } from '../../src/shared/errors.js';

describe('recorder names and paths', () => {
  it('accepts device names of 1-64 letters, digits, _ and -', () => {
    for (const ok of ['kitchen', 'Sat_01', 'a', 'x'.repeat(64), 'living-room'])
      expect(checkDevice(ok)).toBe(ok);
  });

  it('refuses anything that could escape the recordings folder or is too long', () => {
    for (const bad of ['', '..', '../x', 'a/b', 'a\\b', 'a b', 'x'.repeat(65), 'kü', 'a.b', '\0']) {
      expect(() => checkDevice(bad)).toThrow(expect.toSatisfy((e) => isAppError(e, 'INVALID_DEVICE')));
    }
  });

  it('builds <share>/recordings/<device>/<YYYY-MM-DD>/<HH-MM-SS>_<id> paths in UTC and reads them back', () => {
    const loc = locate('/share', 'kitchen', 'ab12', new Date('2026-03-04T05:06:07.890Z'));
    expect(filePath(loc, 'partial')).toBe('/share/recordings/kitchen/2026-03-04/05-06-07_ab12.partial.opus');
    expect(filePath(loc, 'final')).toBe('/share/recordings/kitchen/2026-03-04/05-06-07_ab12.opus');
    expect(filePath(loc, 'sidecar')).toBe('/share/recordings/kitchen/2026-03-04/05-06-07_ab12.wav');
    expect(parseFileName('2026-03-04', '05-06-07_ab12.partial.opus')).toEqual({
      id: 'ab12',
      kind: 'partial',
      base: '05-06-07_ab12',
      startedAt: new Date('2026-03-04T05:06:07Z'),
    });
    expect(parseFileName('2026-03-04', '05-06-07_a_b-c.opus')?.id).toBe('a_b-c');
  });

  it('ignores files that are not recordings', () => {
    for (const name of [
      'notes.txt',
      '05-06-07_ab12.mp3',
      '5-6-7_ab.opus',
      '05-06-07_.opus',
      '05-06-07_a.b.opus',
    ]) {
      expect(parseFileName('2026-03-04', name)).toBeUndefined();
    }
    expect(parseFileName('latest', '05-06-07_ab12.opus')).toBeUndefined();
  });

  it('generates ids that are valid names and differ', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newRecordingId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}$/);
  });
});
