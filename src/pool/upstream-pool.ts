import { setMaxListeners } from 'node:events';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Logger } from '@nestjs/common';
import { HttpAgent, HttpsAgent } from 'agentkeepalive';
import type { PoolSettings, UpstreamConfig } from '../config/llm.config';
import type { RequestTrace } from '../observability/tracing';
import { AdmissionGate, GateRejection } from './admission-gate';
import { ApiKeyPool } from './api-key-pool';
import { CircuitBreaker, type CircuitDecision } from './circuit-breaker';
import { LatencyWindow } from './latency-window';
import { PoolCounters, type ErrorKind } from './pool-counters';
import type { PoolSnapshot } from './pool-snapshot';
import { trackSockets, type SocketTracker } from './socket-tracker';

const circuitLog = new Logger('Circuit');
// Every failure counts against the circuit (a response too large too: every call to it would fail the same way)
// but those on our side: the caller left or stopped reading, or our own shutdown cut the call.
const CALLER_SIDE = new Set<ErrorKind>(['client_closed', 'client_stalled', 'shutdown']);

/** A slot on the upstream, held for the whole request (streamed body included). */
export interface Lease {
  readonly waitedMs: number;
  release(): void;
}

/**
 * Told of timed events as they happen, for histograms (MetricsModule provides one);
 * counts are not reported here: they live in `counters` and are read from there.
 */
export interface PoolObserver {
  acquired(upstream: string, waitedMs: number): void;
  succeeded(upstream: string, latencyMs: number): void;
  firstChunk(upstream: string, elapsedMs: number): void;
}

/**
 * One upstream origin's connections: a keep-alive agent capped at maxConnections,
 * the admission gate in front of it, and the counters that tell their story.
 */
export class UpstreamPool {
  readonly agent: HttpAgent | HttpsAgent;
  readonly origin: string;
  readonly counters = new PoolCounters();
  readonly circuit: CircuitBreaker;
  readonly keys: ApiKeyPool;
  private readonly gate: AdmissionGate;
  private acquireWait = new LatencyWindow();
  private upstreamLatency = new LatencyWindow();
  private readonly sockets: SocketTracker;
  /** Times of recent pool-exhaustion events, for readiness. */
  private exhaustedAt: number[] = [];
  /** Fires when our own shutdown cuts the calls still in flight, so they are not taken for upstream failures. */
  private readonly closing = unboundedAbortController();

  constructor(
    readonly upstream: UpstreamConfig,
    extraCaPem?: string,
    private readonly observer?: PoolObserver,
  ) {
    const settings = upstream.pool;
    const url = new URL(upstream.baseUrl);
    this.origin = url.origin;
    const tls = url.protocol === 'https:';
    const options = {
      keepAlive: settings.maxKeepAlive > 0,
      maxSockets: settings.maxConnections,
      maxFreeSockets: Math.max(1, settings.maxKeepAlive),
      freeSocketTimeout: settings.keepAliveExpiryMs,
      // agentkeepalive would otherwise kill an active socket after 8 s of silence;
      // a non-streamed completion may think for minutes before its first byte.
      timeout: settings.timeoutMs,
      socketActiveTTL: settings.socketTtlMs || undefined,
      scheduling: 'lifo' as const,
      // axios sets TCP keep-alive probes at 60 s on every request; the agent would reset them to 1 s on every
      // free. Agreeing on one value lets Node skip the setsockopt calls (16 000 per 2 000 requests, measured).
      keepAliveMsecs: 60_000,
    };
    this.agent = tls
      ? new HttpsAgent({
          ...options,
          // One TLS context for the pool's life. A `ca` option would instead be parsed again for every
          // connection and concatenated into the agent's pool key for every request (~200 KB of roots).
          secureContext: extraCaPem ? createSecureContext({ ca: [...rootCertificates, extraCaPem] }) : undefined,
        })
      : new HttpAgent(options);
    this.sockets = trackSockets(this.agent, this.counters, { ...settings, tls });
    this.gate = new AdmissionGate(settings.maxConnections, settings.maxQueue, settings.poolTimeoutMs);
    this.circuit = new CircuitBreaker(settings.circuitFailureThreshold, settings.circuitOpenMs, (from, to, reason, requestId) =>
      // Within the call that caused it (the request's id), or a stats read noticing the open period is over (none).
      circuitLog.warn({ event: 'circuit_transition', upstream: this.name, from, to, reason, request_id: requestId }),
    );
    this.keys = new ApiKeyPool(upstream.name, upstream.apiKeys, settings);
  }

  get name(): string {
    return this.upstream.name;
  }

  get settings(): PoolSettings {
    return this.upstream.pool;
  }

  /** Waits for a slot; a GateRejection (queue full, waited too long, caller gone) is counted here. `trace`: the request's, for the wait's span. */
  async acquire(signal?: AbortSignal, trace?: RequestTrace): Promise<Lease> {
    const started = performance.now();
    const traced = trace?.admission(this.name, this.gate.queued);
    try {
      const release = await this.gate.acquire(signal);
      const waitedMs = performance.now() - started;
      traced?.('admitted');
      this.acquireWait.record(waitedMs);
      this.observer?.acquired(this.name, waitedMs);
      return { waitedMs, release };
    } catch (error) {
      traced?.(error instanceof GateRejection ? error.reason : 'error');
      if (error instanceof GateRejection && error.reason !== 'aborted') {
        if (error.reason === 'queue_full') this.counters.queueFull++;
        else this.counters.waitTimeouts++;
        this.exhaustedAt.push(Date.now());
        if (this.exhaustedAt.length > 10_000) this.exhaustedAt = this.exhaustedAt.slice(-5_000);
      }
      throw error;
    }
  }

  recordSuccess(latencyMs: number): void {
    this.counters.succeeded++;
    this.upstreamLatency.record(latencyMs);
    this.observer?.succeeded(this.name, latencyMs);
  }

  /** The first body chunk of a streamed answer arrived, `elapsedMs` after the request went out (time to first token). */
  recordFirstChunk(elapsedMs: number): void {
    this.observer?.firstChunk(this.name, elapsedMs);
  }

  recordFailure(kind: ErrorKind): void {
    this.counters.errorsByKind[kind]++;
  }

  /** Whether the circuit lets a call out now (in half-open, one probe at a time); a refusal is counted. */
  enterCircuit(requestId?: string): CircuitDecision {
    const decision = this.circuit.enter(requestId);
    if (!decision.allowed) this.counters.circuitRejections++;
    return decision;
  }

  /** A call the circuit let out never went (no usable key, no slot): it says nothing of the upstream, another may probe. */
  recordNotSent(): void {
    this.circuit.neutral();
  }

  /** An answer says the upstream is up (a 4xx is about the request), unless it redirected (a wrong base URL) or failed (5xx). */
  recordAnswer(status: number, requestId?: string): void {
    const kind = status >= 200 && status < 300 ? undefined : status < 400 ? 'http_3xx' : status < 500 ? 'http_4xx' : 'http_5xx';
    if (kind) this.counters.errorsByKind[kind]++;
    if (!kind || kind === 'http_4xx') this.circuit.success(requestId);
    else this.circuit.failure(`HTTP ${status}`, requestId);
  }

  /** An attempt failed before any answer: against the circuit if the upstream failed, else it lets another probe go. */
  recordTransportFailure(kind: ErrorKind, requestId?: string): void {
    this.counters.errorsByKind[kind]++;
    if (CALLER_SIDE.has(kind)) this.circuit.neutral();
    else this.circuit.failure(kind, requestId);
  }

  /** A reused socket the server had already closed failed before any response byte: the request never ran, nobody failed. */
  recordStaleSocket(): void {
    this.counters.errorsByKind.connection_reset++;
    this.counters.staleSocketRetries++;
    this.circuit.neutral();
  }

  /** A streamed body failed after its 2xx: the call failed, against the circuit unless our side ended it. */
  recordStreamFailure(kind: ErrorKind, requestId?: string): void {
    this.counters.errorsByKind[kind]++;
    if (CALLER_SIDE.has(kind)) return;
    this.counters.failedCalls++;
    this.circuit.failure(kind, requestId);
  }

  recordRetry(): void {
    this.counters.retries++;
  }

  /** A call failed as its caller saw it, every retry spent (the caller leaving and our shutdown are not failed calls). */
  recordFailedCall(): void {
    this.counters.failedCalls++;
  }

  /** What readiness needs: recent exhaustion and how long the oldest waiter has waited. */
  pressure(windowMs: number, now = Date.now()) {
    const since = now - windowMs;
    return {
      exhaustedInWindow: this.exhaustedAt.filter((t) => t >= since).length,
      oldestWaitMs: this.gate.oldestWaitMs(now),
      queued: this.gate.queued,
      maxQueue: this.settings.maxQueue,
      inFlight: this.gate.active,
      maxConnections: this.settings.maxConnections,
      circuit: this.circuit.state,
    };
  }

  snapshot(): PoolSnapshot {
    const c = this.counters;
    const count = (map: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(map).reduce((n, list) => n + (list?.length ?? 0), 0);
    const failed = Object.values(c.errorsByKind).reduce((n, v) => n + v, 0);
    const s = this.settings;
    return {
      upstream: this.name,
      origin: this.origin,
      wire: this.upstream.wire,
      embedded: this.upstream.embedded,
      config: {
        ...s,
        keepAliveCoverage: round(s.maxKeepAlive / s.maxConnections),
        churnedSocketsAtSaturation: s.maxConnections - s.maxKeepAlive,
      },
      sockets: {
        created: c.socketsCreated,
        open: c.socketsCreated - c.socketsClosed,
        active: count(this.agent.sockets),
        idle: count(this.agent.freeSockets),
        tlsHandshakes: c.tlsHandshakes,
        tlsSessionsResumed: c.tlsSessionsResumed,
        closed: c.socketsClosed,
        closedByReason: { ...c.closedByReason },
      },
      requests: {
        total: c.requests,
        reused: c.reusedRequests,
        reuseRate: c.requests ? round(c.reusedRequests / c.requests) : 0,
        succeeded: c.succeeded,
        failed,
        failedCalls: c.failedCalls,
        retries: c.retries,
        staleSocketRetries: c.staleSocketRetries,
        inFlight: this.gate.active,
        queued: this.gate.queued,
        peakInFlight: this.gate.peakActive,
      },
      poolExhausted: { total: c.queueFull + c.waitTimeouts, queueFull: c.queueFull, waitTimeout: c.waitTimeouts },
      timeouts: { connect: c.errorsByKind.connect_timeout, request: c.errorsByKind.request_timeout, idle: c.errorsByKind.idle_timeout },
      circuit: {
        state: this.circuit.state,
        consecutiveFailures: this.circuit.consecutiveFailures,
        retryAfterMs: this.circuit.retryAfterMs(),
        rejected: c.circuitRejections,
        transitions: { ...this.circuit.transitions },
        lastFailure: this.circuit.lastFailure ?? null,
        fallback: this.upstream.fallback ?? null,
      },
      apiKeys: this.keys.snapshot(),
      errorsByKind: { ...c.errorsByKind },
      latencyMs: { acquireWait: this.acquireWait.percentiles(), upstream: this.upstreamLatency.percentiles() },
    };
  }

  /** Aborted once our own shutdown cuts in-flight calls: every attempt listens to it. */
  get shutdownSignal(): AbortSignal {
    return this.closing.signal;
  }

  /** Ends every call still in flight as cut by shutdown (503 SHUTTING_DOWN), before anything else can fail them. */
  cutInFlight(): void {
    this.closing.abort(new Error('shutdown'));
  }

  destroy(): void {
    // Calls still running are ours to end: destroying their sockets under them would read as the upstream failing.
    this.cutInFlight();
    this.agent.destroy();
  }

  /**
   * Closes every idle keep-alive socket now (an operator's action); sockets in use finish their
   * request. Resolves with how many were closed once each has closed and been counted as 'admin'.
   */
  destroyIdleSockets(): Promise<number> {
    return this.sockets.closeIdle('admin');
  }

  /**
   * Zeroes the counters and latency windows (an operator's action). Sockets open now stay counted as
   * created, so open = created - closed still holds; circuit state, key rotation, the peak in flight
   * and readiness history are live state rather than statistics and are kept.
   */
  resetStats(): void {
    const fresh = new PoolCounters();
    fresh.socketsCreated = this.counters.socketsCreated - this.counters.socketsClosed;
    // Field by field from a fresh instance, so counters added later are reset too.
    for (const [field, value] of Object.entries(fresh)) {
      const counters = this.counters as unknown as Record<string, unknown>;
      if (typeof value === 'number') counters[field] = value;
      else Object.assign(counters[field] as object, value);
    }
    this.acquireWait = new LatencyWindow();
    this.upstreamLatency = new LatencyWindow();
  }
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

/**
 * Every attempt in flight listens to the pool's shutdown signal (up to LLM_MAX_CONNECTIONS plus the queue):
 * past Node's default of 10 listeners it would print a "possible memory leak" warning under any real load.
 */
function unboundedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
