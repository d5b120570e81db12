import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What a request id may be: short, and nothing a log line or a header could be broken with. */
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** The id as given when it is a valid one (one header value, ≤ 128 characters of [A-Za-z0-9._:-]), else undefined. */
export function validRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && VALID_ID.test(value) ? value : undefined;
}

/**
 * The caller's `x-request-id` when it is valid, else a new UUID: a caller that sends a bad one still gets
 * an id to quote (never a 400). Fastify's genReqId, so `request.id` is this id everywhere.
 */
export function requestIdOf(request: { headers: IncomingHttpHeaders }): string {
  return validRequestId(request.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}

/** The upstream's own id for its answer: OpenAI sends `x-request-id`, Anthropic `request-id`. */
export function upstreamRequestIdOf(headers: Record<string, unknown> | undefined): string | undefined {
  if (!headers) return undefined;
  return validRequestId(headers['x-request-id']) ?? validRequestId(headers['request-id']);
}
