import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * This application's own registry, never prom-client's global one: two apps in
 * one process (the e2e tests boot many) would otherwise register the same names twice.
 * It carries the default Node.js process metrics (CPU, memory, event-loop lag, GC, handles).
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
