/** Why a pooled socket was closed. */
export const CLOSE_REASONS = [
  'idle_expiry', // idle longer than LLM_KEEPALIVE_EXPIRY_MS (or the server's Keep-Alive hint)
  'ttl', // older than LLM_SOCKET_TTL_MS
  'keepalive_limit', // freed while LLM_MAX_KEEPALIVE idle sockets were already kept
  'server_closed', // the server ended or reset it, or answered Connection: close
  'error', // a socket error during a request
  'timeout', // no byte for the agent's socket timeout during a request
  'aborted', // the request was aborted (caller gone, deadline) while using it
  'shutdown', // the pool was destroyed
  'admin', // an idle socket closed on an operator's request (POST /v1/admin/pools/:upstream/sockets/destroy)
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export const ERROR_KINDS = [
  'connect_refused',
  'connect_timeout',
  'connection_reset',
  'request_timeout',
  'idle_timeout',
  'client_closed',
  'client_stalled', // our caller stopped reading a stream until the call's deadline: not the upstream's fault
  'shutdown', // cut by our own shutdown once the grace period was over: not the upstream's fault
  'http_3xx', // a redirect: LLM APIs do not redirect, so the base URL or a proxy is wrong
  'http_4xx',
  'http_5xx',
  'response_too_large', // a body over LLM_MAX_RESPONSE_BYTES, or an SSE event over LLM_MAX_SSE_EVENT_BYTES
  'other',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

const zeroes = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;

/** Everything counted about one pool, owned by the pool and written where each event happens. */
export class PoolCounters {
  socketsCreated = 0;
  tlsHandshakes = 0;
  tlsSessionsResumed = 0;
  readonly closedByReason = zeroes(CLOSE_REASONS);
  /** HTTP requests written to a socket, and how many of them went out on a socket used before. */
  requests = 0;
  reusedRequests = 0;
  queueFull = 0;
  waitTimeouts = 0;
  succeeded = 0;
  /** Calls that failed after every retry, as the caller saw them. */
  failedCalls = 0;
  retries = 0;
  /** Requests repeated once because a reused keep-alive socket turned out closed by the server. */
  staleSocketRetries = 0;
  circuitRejections = 0;
  readonly errorsByKind = zeroes(ERROR_KINDS);

  get socketsClosed(): number {
    return Object.values(this.closedByReason).reduce((sum, n) => sum + n, 0);
  }
}
