// Small statistics and formatting helpers for the benchmark report.

export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, values: [] };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values: [...values] };
}

/** Nearest-rank percentile of an unsorted sample (p in 0..100). */
export function percentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1]!;
}

/** A number with a sensible count of digits for a table cell. */
export function num(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return '—';
  if (digits !== undefined) return n.toFixed(digits);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** "median (min–max)" */
export function cell(s: Spread | undefined, digits?: number): string {
  if (!s || s.values.length === 0) return '—';
  if (s.values.length === 1) return `${num(s.median, digits)} (1 run)`;
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): number {
  return bytes / MiB;
}
