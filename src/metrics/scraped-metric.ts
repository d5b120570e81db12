import { Counter, Gauge, type Registry } from 'prom-client';

/** One labelled value of a metric read at scrape time. */
export type Sample<L extends string> = [labels: Record<L, string>, value: number];

export interface ScrapedMetric<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Reads the current values from their owner (a pool's counters, the spend tracker). */
  read: () => Iterable<Sample<L>>;
}

/**
 * A counter that is never incremented here: each scrape replaces its values with
 * the owner's, so there is one source of truth and nothing to drift. An owner's
 * reset (admin reset, a new budget month) reads as a counter reset, which rate() handles.
 */
export function scrapedCounter<L extends string>(registry: Registry, metric: ScrapedMetric<L>): Counter<L> {
  const { read, ...config } = metric;
  return new Counter<L>({
    ...config,
    labelNames: [...config.labelNames],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge set from its owner's current value at each scrape. */
export function scrapedGauge<L extends string>(registry: Registry, metric: ScrapedMetric<L>): Gauge<L> {
  const { read, ...config } = metric;
  return new Gauge<L>({
    ...config,
    labelNames: [...config.labelNames],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}
