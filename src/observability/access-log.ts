import type { ConsoleLogger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LogFields } from '../common/log-safe';
import '../auth/caller'; // FastifyRequest.caller
import type { RequestExchange } from './request-exchange';

const CONTEXT = 'Access';

// Probes and scrapes arrive every few seconds from every kubelet and Prometheus: debug, not info.
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/** Three decimals of a millisecond or of a dollar cent is noise in a log line. */
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The access log line of one finished (or abandoned) request: the route pattern, never the raw URL
 * (its query may carry an access_token); the caller's name (`key-2`), never its key; no bodies.
 */
export function accessLogFields(request: FastifyRequest, reply: FastifyReply, exchange: RequestExchange): LogFields {
  return {
    method: request.method,
    route: request.routeOptions.url ?? '(unmatched)',
    status: reply.raw.statusCode,
    duration_ms: round(performance.now() - exchange.startedAt, 1),
    // The response ended before it was complete: the caller left, or a stream was cut.
    aborted: reply.raw.writableFinished ? undefined : true,
    caller: request.caller?.name ?? 'anonymous',
    upstream: exchange.upstream,
    model: exchange.model,
    attempts: exchange.attempts || undefined,
    stale_retries: exchange.staleRetries || undefined,
    tokens_in: exchange.tokensIn,
    tokens_out: exchange.tokensOut,
    cost_usd: exchange.costUsd === undefined ? undefined : round(exchange.costUsd, 6),
    request_id: exchange.id,
    upstream_request_id: exchange.upstreamRequestId,
    error: exchange.error,
  };
}

/**
 * Writes each request's line when its response closes (streams included), at info, or debug for probes
 * and scrapes, through the app's own logger: the level is checked before a field is gathered.
 */
export class AccessLog {
  constructor(private readonly logger: ConsoleLogger) {}

  write(request: FastifyRequest, reply: FastifyReply, exchange: RequestExchange): void {
    const quiet = QUIET_ROUTES.has(request.routeOptions.url ?? '');
    if (!this.logger.isLevelEnabled(quiet ? 'debug' : 'log')) return;
    const fields = accessLogFields(request, reply, exchange);
    if (quiet) this.logger.debug(fields, CONTEXT);
    else this.logger.log(fields, CONTEXT);
  }
}
