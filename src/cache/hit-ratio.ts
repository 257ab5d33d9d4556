/** Share of cache lookups that hit, 0–1 rounded to 3 decimals (0 before any lookup); `hit_ratio` everywhere. */
export function cacheHitRatio(stats: { cacheHits: number; cacheMisses: number }): number {
  const lookups = stats.cacheHits + stats.cacheMisses;
  return lookups ? Math.round((stats.cacheHits / lookups) * 1000) / 1000 : 0;
}
