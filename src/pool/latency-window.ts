export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * The most recent samples (a ring of fixed size), so percentiles describe the
 * pool as it is now rather than since boot; `count` is every sample ever seen.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private total = 0;

  constructor(size = 2048) {
    this.samples = new Float64Array(size);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    this.total++;
  }

  percentiles(): Percentiles {
    const filled = Math.min(this.total, this.samples.length);
    if (filled === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0 };
    const sorted = this.samples.slice(0, filled).sort();
    const at = (q: number) => round(sorted[Math.min(filled - 1, Math.ceil(q * filled) - 1)]);
    return { count: this.total, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(sorted[filled - 1]) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
