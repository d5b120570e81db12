import { Injectable } from '@nestjs/common';
import { Registry } from 'prom-client';
import type { CircuitState } from '../pool/circuit-breaker';
import { CLOSE_REASONS, ERROR_KINDS } from '../pool/pool-counters';
import { PoolRegistry } from '../pool/pool-registry';
import type { PoolSnapshot } from '../pool/pool-snapshot';
import { scrapedCounter, scrapedGauge, type Sample } from './scraped-metric';

const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];
const TRANSITIONS = { opened: 'open', halfOpened: 'half_open', closed: 'closed' } as const;

/**
 * The pools' gauges and counters, read from the pools' own snapshots when
 * Prometheus scrapes: the same numbers as /v1/llm/stats. Labels are bounded by
 * configuration (upstream) or by fixed lists (reason, outcome, state).
 */
@Injectable()
export class PoolMetricsCollector {
  private cached?: PoolSnapshot[];

  constructor(
    registry: Registry,
    private readonly pools: PoolRegistry,
  ) {
    const perUpstream = (pick: (s: PoolSnapshot) => number) => (): Sample<'upstream'>[] =>
      this.snapshots().map((s) => [{ upstream: s.upstream }, pick(s)]);
    const gauge = (name: string, help: string, pick: (s: PoolSnapshot) => number) =>
      scrapedGauge(registry, { name, help, labelNames: ['upstream'], read: perUpstream(pick) });
    const counter = (name: string, help: string, pick: (s: PoolSnapshot) => number) =>
      scrapedCounter(registry, { name, help, labelNames: ['upstream'], read: perUpstream(pick) });

    gauge('llm_pool_sockets_active', 'Sockets of the pool carrying a request now.', (s) => s.sockets.active);
    gauge('llm_pool_sockets_idle', 'Keep-alive sockets of the pool waiting for reuse.', (s) => s.sockets.idle);
    gauge('llm_pool_sockets_open', 'Sockets of the pool open now (created minus closed).', (s) => s.sockets.open);
    gauge('llm_pool_requests_in_flight', 'Requests holding a connection slot of the pool.', (s) => s.requests.inFlight);
    gauge('llm_pool_requests_queued', 'Requests waiting for a connection slot of the pool.', (s) => s.requests.queued);
    gauge('llm_pool_max_connections', 'Connection limit of the pool (LLM_MAX_CONNECTIONS or its per-upstream override).', (s) => s.config.maxConnections);
    scrapedGauge(registry, {
      name: 'llm_circuit_state',
      help: "The upstream's circuit breaker state, one-hot: 1 for the current state (closed, open, half_open), 0 for the others.",
      labelNames: ['upstream', 'state'],
      read: () => this.snapshots().flatMap((s) => CIRCUIT_STATES.map((state): Sample<'upstream' | 'state'> => [{ upstream: s.upstream, state }, s.circuit.state === state ? 1 : 0])),
    });

    counter('llm_pool_sockets_created_total', 'Sockets opened to the upstream (each one a TCP, and for https a TLS, handshake).', (s) => s.sockets.created);
    scrapedCounter(registry, {
      name: 'llm_pool_sockets_closed_total',
      help: 'Sockets of the pool closed, by reason (idle_expiry, ttl, keepalive_limit, server_closed, error, timeout, aborted, shutdown, admin).',
      labelNames: ['upstream', 'reason'],
      read: () => this.snapshots().flatMap((s) => CLOSE_REASONS.map((reason): Sample<'upstream' | 'reason'> => [{ upstream: s.upstream, reason }, s.sockets.closedByReason[reason]])),
    });
    counter('llm_pool_tls_handshakes_total', 'Full TLS handshakes with the upstream.', (s) => s.sockets.tlsHandshakes);
    counter('llm_pool_requests_total', 'HTTP requests written to the sockets of the pool (each retry counts).', (s) => s.requests.total);
    counter('llm_pool_requests_reused_total', 'HTTP requests sent on a socket used before (keep-alive reuse).', (s) => s.requests.reused);
    scrapedCounter(registry, {
      name: 'llm_pool_exhausted_total',
      help: 'Requests refused with 503 POOL_EXHAUSTED, by reason (queue_full, wait_timeout).',
      labelNames: ['upstream', 'reason'],
      read: () =>
        this.snapshots().flatMap((s): Sample<'upstream' | 'reason'>[] => [
          [{ upstream: s.upstream, reason: 'queue_full' }, s.poolExhausted.queueFull],
          [{ upstream: s.upstream, reason: 'wait_timeout' }, s.poolExhausted.waitTimeout],
        ]),
    });
    scrapedCounter(registry, {
      name: 'llm_upstream_requests_total',
      help: `Upstream request attempts by outcome: success, or the kind of failure (${ERROR_KINDS.join(', ')}); each retry counts.`,
      labelNames: ['upstream', 'outcome'],
      read: () =>
        this.snapshots().flatMap((s): Sample<'upstream' | 'outcome'>[] => [
          [{ upstream: s.upstream, outcome: 'success' }, s.requests.succeeded],
          ...ERROR_KINDS.map((outcome): Sample<'upstream' | 'outcome'> => [{ upstream: s.upstream, outcome }, s.errorsByKind[outcome]]),
        ]),
    });
    counter('llm_upstream_calls_failed_total', 'Calls that failed after every retry, as the caller saw them (callers who left not counted).', (s) => s.requests.failedCalls);
    counter('llm_upstream_retries_total', 'Attempts repeated after a failure (backoff, another API key, or a stale socket).', (s) => s.requests.retries);
    counter(
      'llm_upstream_stale_socket_retries_total',
      'Requests repeated at once because a reused keep-alive socket had been closed by the server.',
      (s) => s.requests.staleSocketRetries,
    );
    scrapedCounter(registry, {
      name: 'llm_circuit_transitions_total',
      help: "Transitions of the upstream's circuit breaker, by the state entered (open, half_open, closed).",
      labelNames: ['upstream', 'to'],
      read: () =>
        this.snapshots().flatMap((s) =>
          Object.entries(TRANSITIONS).map(([field, to]): Sample<'upstream' | 'to'> => [
            { upstream: s.upstream, to },
            s.circuit.transitions[field as keyof typeof TRANSITIONS],
          ]),
        ),
    });
    counter('llm_circuit_rejections_total', 'Calls failed fast (503 CIRCUIT_OPEN) without reaching the upstream.', (s) => s.circuit.rejected);
  }

  /**
   * One snapshot per scrape: prom-client calls every collect() in the same tick,
   * so all these metrics describe the same instant, and the pools are read once.
   */
  private snapshots(): PoolSnapshot[] {
    if (!this.cached) {
      this.cached = this.pools.all().map((pool) => pool.snapshot());
      setImmediate(() => (this.cached = undefined));
    }
    return this.cached;
  }
}
