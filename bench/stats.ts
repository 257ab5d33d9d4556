/** Small statistics helpers for benchmarks. */

/** The p-th percentile (0–100) of `values` (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Arithmetic mean. */
export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Formats ms with one decimal. */
export function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

/** Formats a ratio with two decimals and a target mark. */
export function ratio(value: number, target?: number, lowerIsBetter = true): string {
  const mark =
    target === undefined
      ? ''
      : (lowerIsBetter ? value <= target : value >= target)
        ? '  ✓'
        : `  ✗ (target ${lowerIsBetter ? '≤ ' : '≥ '}${target})`;
  return `${value.toFixed(2)}×${mark}`;
}

/** One line of the report. */
export function line(label: string, value: string): void {
  process.stdout.write(`  ${label.padEnd(58)} ${value}\n`);
}
