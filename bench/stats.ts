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

/**
 * Formats a ratio with two decimals and a target mark. The verdict is on the exact value; when two decimals
 * would round it onto the other side of the target (1.104 printed as "1.10×" next to ✗ for a target of 1.1),
 * more decimals are printed until the figure shows why (1.104×), so the printed figure and the mark agree.
 */
export function ratio(value: number, target?: number, lowerIsBetter = true): string {
  const ok = target === undefined || (lowerIsBetter ? value <= target : value >= target);
  const agrees = (shown: number): boolean =>
    target === undefined || (lowerIsBetter ? shown <= target : shown >= target) === ok;
  let digits = 2;
  while (digits < 6 && !agrees(Number(value.toFixed(digits)))) digits++;
  const mark =
    target === undefined ? '' : ok ? '  ✓' : `  ✗ (target ${lowerIsBetter ? '≤ ' : '≥ '}${target})`;
  return `${value.toFixed(digits)}×${mark}`;
}

/** One line of the report. */
export function line(label: string, value: string): void {
  process.stdout.write(`  ${label.padEnd(58)} ${value}\n`);
}
