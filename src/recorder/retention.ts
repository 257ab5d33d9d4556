/**
 * Retention policy: which finished recordings to delete, by age and by total size, oldest first. Recordings in
 * progress are never candidates (they are not passed in), but their bytes count towards the total.
 */
import type { RecordingInfo } from './status.js';

/** The limits of the `recorder` options: `retention_days` and `max_total_mb` (0 disables either). */
export interface RetentionLimits {
  retentionDays: number;
  maxTotalMb: number;
}

const DAY_MS = 86_400_000;
const MB = 1024 * 1024;

/**
 * Picks the finished recordings to delete: first every one that ended more than `retentionDays` before `now`,
 * then the oldest remaining until all recordings (finished + `inProgressBytes`) fit in `maxTotalMb`.
 * @returns the chosen recordings, oldest first.
 */
export function selectForPruning(
  finished: readonly RecordingInfo[],
  limits: RetentionLimits,
  now: Date,
  inProgressBytes = 0,
): RecordingInfo[] {
  const oldestFirst = [...finished].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  const chosen = new Set<RecordingInfo>();
  if (limits.retentionDays > 0) {
    const cutoffMs = now.getTime() - limits.retentionDays * DAY_MS;
    for (const rec of oldestFirst) {
      if ((rec.endedAt ?? rec.startedAt).getTime() < cutoffMs) chosen.add(rec);
    }
  }
  if (limits.maxTotalMb > 0) {
    const maxBytes = limits.maxTotalMb * MB;
    let total = inProgressBytes;
    for (const rec of oldestFirst) if (!chosen.has(rec)) total += rec.bytes;
    for (const rec of oldestFirst) {
      if (total <= maxBytes) break;
      if (chosen.has(rec)) continue;
      chosen.add(rec);
      total -= rec.bytes;
    }
  }
  return oldestFirst.filter((rec) => chosen.has(rec));
}
