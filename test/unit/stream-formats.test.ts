import { describe, expect, it } from 'vitest';
import { atempoFilter } from '../../src/audio/stream-formats.js';

describe('atempoFilter', () => {
  it('builds atempo chains within 0.5–2 per filter', () => {
    expect(atempoFilter(1.5)).toBe('atempo=1.5');
    expect(atempoFilter(4)).toBe('atempo=2,atempo=2');
    expect(atempoFilter(0.25)).toBe('atempo=0.5,atempo=0.5');
  });
});
