import { upstreamRequestIdOf } from './request-id';
import type { RequestTrace } from './tracing';

/**
 * What one inbound request did, filled in where each thing happens (the upstream client counts its
 * attempts, the spend tracker its tokens and cost) and written once, as the request's access log line.
 * Holds no body, no key and no prompt: nothing here may be logged that a caller must not see.
 *
 * It travels with the call as an argument (CallOptions.exchange, from @CallContext), not in an
 * AsyncLocalStorage: on Node 20 that installs a promise hook that runs for every promise of every
 * request, about 10 % of the service's CPU per proxied request in `npm run bench` (scenario 3).
 */
export class RequestExchange {
  upstream?: string;
  model?: string;
  /** Requests written to an upstream, retries and stale-socket repeats included. */
  attempts = 0;
  staleRetries = 0;
  tokensIn?: number;
  tokensOut?: number;
  costUsd?: number;
  /** The upstream's own id for its last answer, to quote to the provider. */
  upstreamRequestId?: string;
  /** The error code the caller was answered with (status or stream error event). */
  error?: string;
  /** The caller ApiKeyGuard identified (`key-1`, `admin`): spend is booked to it (SpendTracker.reserve). */
  caller?: string;
  /** The request's server span, when tracing is on: the pool and the upstream client hang their spans under it. */
  trace?: RequestTrace;

  constructor(
    readonly id: string,
    readonly startedAt: number,
  ) {}

  /** The upstream and model a call was routed to (the fallback's, when it answered instead). */
  routed(upstream: string, model: string): void {
    this.upstream = upstream;
    this.model = model;
  }

  attempted(): void {
    this.attempts++;
  }

  staleRetried(): void {
    this.staleRetries++;
  }

  answered(headers: Record<string, unknown> | undefined): void {
    this.upstreamRequestId = upstreamRequestIdOf(headers) ?? this.upstreamRequestId;
  }

  /** Summed: a synthesis may make several calls for one request. */
  charged(tokensIn: number, tokensOut: number, costUsd: number): void {
    this.tokensIn = (this.tokensIn ?? 0) + tokensIn;
    this.tokensOut = (this.tokensOut ?? 0) + tokensOut;
    this.costUsd = (this.costUsd ?? 0) + costUsd;
  }

  /** Headers every upstream request of this exchange carries, so the provider's logs can be matched to ours. */
  upstreamHeaders(): Record<string, string> {
    return { 'x-request-id': this.id };
  }
}
