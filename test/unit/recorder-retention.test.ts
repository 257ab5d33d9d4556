import { describe, expect, it } from 'vitest';
import { selectForPruning } from '../../src/recorder/retention.js';
import type { RecordingInfo } from '../../src/recorder/status.js';

const DAY_MS = 86_400_000;
const now = new Date('2026-06-30T12:00:00Z');

function rec(id: string, daysAgo: number, bytes: number): RecordingInfo {
  const startedAt = new Date(now.getTime() - daysAgo * DAY_MS);
  return {
    id,
    device: 'd',
    path: `/x/${id}.opus`,
    file: `${id}.opus`,
    inProgress: false,
    bytes,
    durationMs: 1000,
    startedAt,
    endedAt: new Date(startedAt.getTime() + 1000),
  };
}

describe('retention selection', () => {
  const all = [rec('new', 1, 400_000), rec('old', 40, 300_000), rec('mid', 10, 500_000)];

  it('deletes recordings older than retention_days', () => {
    expect(selectForPruning(all, { retentionDays: 30, maxTotalMb: 0 }, now).map((r) => r.id)).toEqual([
      'old',
    ]);
  });

  it('deletes the oldest until the total fits max_total_mb, counting bytes in progress', () => {
    const limits = { retentionDays: 0, maxTotalMb: 1 };
    expect(selectForPruning(all, limits, now).map((r) => r.id)).toEqual(['old']);
    expect(selectForPruning(all, limits, now, 300_000).map((r) => r.id)).toEqual(['old', 'mid']);
  });

  it('applies both limits, oldest first, and 0 disables each', () => {
    const limits = { retentionDays: 30, maxTotalMb: 0.5 };
    expect(selectForPruning(all, limits, now).map((r) => r.id)).toEqual(['old', 'mid']);
    expect(selectForPruning(all, { retentionDays: 0, maxTotalMb: 0 }, now)).toEqual([]);
  });
});
