/** Latency summaries from raw samples (no histogram bucketing: the samples are few enough to sort). */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted samples; `q` in [0, 1]. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function sortNumbers(values: readonly number[]): number[] {
  // A typed array sorts numerically, and fast.
  return Array.from(Float64Array.from(values).sort());
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = sortNumbers(values);
  const count = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count,
    mean: count ? sum / count : NaN,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: count ? sorted[count - 1] : NaN,
  };
}

export function median(values: readonly number[]): number {
  return percentile(sortNumbers(values), 0.5);
}

/** Formats a number for a table: 3 significant digits, thin grouping of thousands, no exponent. */
export function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs === 0) return '0';
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return value.toFixed(Math.min(decimals, 3));
}

export const ms = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? '–' : `${fmt(value)} ms`);
export const ratio = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? '–' : `${value.toFixed(2)}×`);
export const pct = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? '–' : `${(value * 100).toFixed(1)} %`);
