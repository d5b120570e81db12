import { Injectable } from '@nestjs/common';
import { Histogram, Registry } from 'prom-client';
import type { PoolObserver } from '../pool/upstream-pool';

type Observer = { observe(value: number): void };

// Waiting for a slot is normally sub-millisecond; seconds mean the pool is saturated (LLM_POOL_TIMEOUT_MS is 5 s).
const ACQUIRE_WAIT_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// A completion takes from a fraction of a second to minutes (LLM_TIMEOUT_MS is 10 min).
const REQUEST_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
// Time to first token: tens of milliseconds on a warm small model, seconds on a loaded large one.
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

/**
 * The histograms, observed when each event happens (a distribution cannot be
 * read from counters at scrape time). PoolRegistry hands this observer to every pool.
 */
@Injectable()
export class PoolLatencyHistograms implements PoolObserver {
  private readonly acquireWait: Histogram<'upstream'>;
  private readonly requestDuration: Histogram<'upstream'>;
  private readonly timeToFirstToken: Histogram<'upstream'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.acquireWait = new Histogram({
      name: 'llm_pool_acquire_wait_seconds',
      help: 'Time a request waited for a connection slot of the upstream pool (admitted requests only).',
      labelNames: ['upstream'],
      buckets: ACQUIRE_WAIT_BUCKETS,
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'llm_upstream_request_duration_seconds',
      help: 'Duration of a successful upstream call, from sending the request to the last byte of the body (streams included).',
      labelNames: ['upstream'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'llm_upstream_time_to_first_token_seconds',
      help: 'Streamed calls: time from sending the request to the first body chunk of the answer.',
      labelNames: ['upstream'],
      buckets: TTFT_BUCKETS,
      registers,
    });
  }

  // One child per upstream, made once: labels are few and fixed (the configured upstreams).
  private readonly children = new Map<string, { acquireWait: Observer; requestDuration: Observer; timeToFirstToken: Observer }>();

  private of(upstream: string) {
    let children = this.children.get(upstream);
    if (!children) {
      children = {
        acquireWait: this.acquireWait.labels(upstream),
        requestDuration: this.requestDuration.labels(upstream),
        timeToFirstToken: this.timeToFirstToken.labels(upstream),
      };
      this.children.set(upstream, children);
    }
    return children;
  }

  acquired(upstream: string, waitedMs: number): void {
    this.of(upstream).acquireWait.observe(waitedMs / 1000);
  }

  succeeded(upstream: string, latencyMs: number): void {
    this.of(upstream).requestDuration.observe(latencyMs / 1000);
  }

  firstChunk(upstream: string, elapsedMs: number): void {
    this.of(upstream).timeToFirstToken.observe(elapsedMs / 1000);
  }
}
