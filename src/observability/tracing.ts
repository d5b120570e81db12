import type { IncomingHttpHeaders } from 'node:http';
import type { TracingConfig } from '../config/tracing.config';
import type { RequestExchange } from './request-exchange';

/**
 * Tracing as the rest of the service sees it: a few calls at the places where time is spent. With
 * OTEL_EXPORTER_OTLP_ENDPOINT unset there is no Tracing at all (every hook is `exchange.trace?.…` on
 * undefined) and no OpenTelemetry module is loaded; tracing-otel.ts holds the one implementation.
 */
export interface Tracing {
  /** The server span of an inbound request, continuing the caller's W3C `traceparent` when it sent one. */
  request(method: string, route: string | undefined, headers: IncomingHttpHeaders): RequestTrace;
  /** Exports the spans still buffered, then stops: the app is closing. */
  shutdown(): Promise<void>;
}

export interface RequestTrace {
  /** Waiting for a slot in an upstream's pool; the returned function ends it with how it ended. */
  admission(upstream: string, queued: number): (outcome: string) => void;
  /** One request written to an upstream (a retry or a stale-socket repeat is another attempt). */
  attempt(details: AttemptDetails): AttemptTrace;
  /** The response has closed (complete or abandoned): what the exchange recorded goes on the server span. */
  end(status: number, exchange: RequestExchange, aborted: boolean): void;
}

export interface AttemptDetails {
  upstream: string;
  wire: 'openai' | 'anthropic';
  url: string;
  /** The wire body sent: its `model` is the model asked for. */
  body: unknown;
  /** 0 for the first attempt, n for the n-th retry that counts against LLM_MAX_RETRIES. */
  retry: number;
  /** This attempt repeats one that failed on a stale keep-alive socket. */
  staleRepeat: boolean;
}

export interface AttemptTrace {
  /** `traceparent` (and `tracestate`) for the upstream request, naming this attempt as the parent. */
  headers(): Record<string, string>;
  /** The upstream answered with this status; a whole JSON body also gives the response model and usage. */
  answered(status: number, request: unknown, body?: unknown): void;
  /** The attempt failed with this kind (pool-counters' ErrorKind) before or after an answer. */
  failed(kind: string, request: unknown): void;
  /** The first body chunk of a streamed answer, `elapsedMs` after the request went out. */
  firstToken(elapsedMs: number): void;
  end(): void;
}

/** The tracer, or undefined when tracing is off; the SDK is required only on the way in. */
export function startTracing(config: TracingConfig): Tracing | undefined {
  if (!config.tracesUrl) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { OtelTracing } = require('./tracing-otel') as typeof import('./tracing-otel');
  return new OtelTracing(config.tracesUrl, config.serviceName, config.headers);
}
