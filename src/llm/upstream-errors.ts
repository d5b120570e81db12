import type { AxiosError, AxiosResponse } from 'axios';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { redact } from '../common/redact';
import type { GateRejection } from '../pool/admission-gate';
import type { ErrorKind } from '../pool/pool-counters';
import type { UpstreamPool } from '../pool/upstream-pool';
import type { AbortReason } from './attempt-timers';
import { upstreamErrorFields, upstreamErrorMessage } from './codecs/wire-codec';
import { serverRetryDelayMs } from './retry-policy';
import { SSE_EVENT_TOO_LARGE } from './sse-events';

/** What every upstream failure is, in the caller's terms: one place, so every path says the same. */

const RETRY_AFTER_WHEN_EXHAUSTED_S = 1;

/** The code of the error the body tap raises when a streamed response outgrows LLM_MAX_RESPONSE_BYTES. */
export const RESPONSE_TOO_LARGE = 'ERR_UPSTREAM_RESPONSE_TOO_LARGE';

export function classifyFailure(error: unknown, aborted: AbortReason | undefined): ErrorKind {
  if (aborted === 'deadline') return 'request_timeout';
  if (aborted === 'idle') return 'idle_timeout';
  if (aborted === 'caller') return 'client_closed';
  if (aborted === 'caller_stalled') return 'client_stalled';
  if (aborted === 'shutdown') return 'shutdown';
  const code = (error as AxiosError)?.code ?? (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case RESPONSE_TOO_LARGE:
    case SSE_EVENT_TOO_LARGE:
      return 'response_too_large';
    case 'ERR_BAD_RESPONSE':
      // axios' maxContentLength, on a body it buffers whole; it has destroyed the socket already.
      return /maxContentLength/.test((error as Error).message) ? 'response_too_large' : 'other';
    case 'ECONNREFUSED':
      return 'connect_refused';
    case 'ETIMEDOUT_CONNECT':
      return 'connect_timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'connection_reset';
    case 'ERR_SOCKET_TIMEOUT':
    case 'ETIMEDOUT':
      return 'request_timeout';
    default:
      return 'other';
  }
}

export function describeFailure(pool: UpstreamPool, kind: ErrorKind, error: unknown): LlmException {
  const upstream = pool.name;
  const detail = redact((error as Error)?.message ?? String(error), pool.upstream.apiKeys);
  const { timeoutMs, idleTimeoutMs, connectTimeoutMs } = pool.settings;
  switch (kind) {
    case 'client_closed':
      return new LlmException(LlmErrorCode.CLIENT_CLOSED, 'the caller went away', { upstream });
    case 'client_stalled':
      return new LlmException(LlmErrorCode.CLIENT_CLOSED, `the caller stopped reading the stream until the call's deadline (${timeoutMs} ms)`, {
        upstream,
      });
    case 'response_too_large':
      return responseTooLargeError(pool, error);
    case 'shutdown':
      return shuttingDownError(pool);
    case 'request_timeout':
      return new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `upstream "${upstream}" did not answer within ${timeoutMs} ms`, { upstream });
    case 'idle_timeout':
      return new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `upstream "${upstream}" sent nothing for ${idleTimeoutMs} ms: it stalled`, { upstream });
    case 'connect_timeout':
      return new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `could not connect to upstream "${upstream}" within ${connectTimeoutMs} ms`, { upstream });
    case 'connect_refused':
      return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${upstream}" refused the connection`, { upstream });
    case 'connection_reset':
      return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${upstream}" closed the connection: ${detail}`, { upstream });
    default:
      return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `request to upstream "${upstream}" failed: ${detail}`, { upstream });
  }
}

/** A call our own shutdown cut (or refused) after the grace period: the caller should retry on another instance. */
export function shuttingDownError(pool: UpstreamPool): LlmException {
  return new LlmException(LlmErrorCode.SHUTTING_DOWN, 'the service is shutting down; retry on another instance', {
    upstream: pool.name,
    retryAfterSeconds: 1,
  });
}

function responseTooLargeError(pool: UpstreamPool, error: unknown): LlmException {
  const event = (error as NodeJS.ErrnoException)?.code === SSE_EVENT_TOO_LARGE;
  const limitBytes = event ? pool.settings.maxSseEventBytes : pool.settings.maxResponseBytes;
  const what = event ? 'an SSE event' : 'a response';
  return new LlmException(LlmErrorCode.UPSTREAM_RESPONSE_TOO_LARGE, `upstream "${pool.name}" sent ${what} larger than ${limitBytes} bytes; it was cut off`, {
    upstream: pool.name,
    details: { limitBytes },
  });
}

/** A 3xx is never an answer, whatever its body looks like (a proxy's login page, a moved API, a copy of a completion). */
export function upstreamRedirectError(pool: UpstreamPool, status: number): LlmException {
  return new LlmException(
    LlmErrorCode.UPSTREAM_ERROR,
    `upstream "${pool.name}" answered ${status}, a redirect: LLM APIs do not redirect, so its base URL (or a proxy in front of it) is wrong`,
    { upstream: pool.name, details: { upstreamStatus: status } },
  );
}

/** An upstream's error answer, passed on with its status and Retry-After, and without any key it echoed. */
export function upstreamHttpError(pool: UpstreamPool, status: number, body: unknown, headers: AxiosResponse['headers']): LlmException {
  const raw = upstreamErrorMessage(body) ?? (typeof body === 'string' && body ? body.slice(0, 500) : 'no error message');
  // Upstreams echo keys in their messages ("Incorrect API key provided: sk-..."): never pass one on.
  const message = redact(raw, pool.upstream.apiKeys);
  const retryAfterMs = serverRetryDelayMs(headers);
  // The upstream's own field at fault and error code (OpenAI's `param` and `code`), so a caller's SDK still sees them.
  const { param, code } = upstreamErrorFields(body);
  return new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream "${pool.name}" answered ${status}: ${message}`, {
    status,
    upstream: pool.name,
    retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
    ...(param !== undefined ? { param } : {}),
    ...(code !== undefined ? { details: { upstreamCode: code } } : {}),
  });
}

export function poolExhaustedError(pool: UpstreamPool, rejection: GateRejection): LlmException {
  if (rejection.reason === 'aborted') {
    return new LlmException(LlmErrorCode.CLIENT_CLOSED, 'the caller went away while waiting for a connection', { upstream: pool.name });
  }
  const { maxConnections, maxQueue, poolTimeoutMs } = pool.settings;
  const why =
    rejection.reason === 'queue_full'
      ? `all ${maxConnections} connections are busy and ${maxQueue} requests already wait`
      : `no connection became free within ${poolTimeoutMs} ms`;
  return new LlmException(LlmErrorCode.POOL_EXHAUSTED, `upstream "${pool.name}" is exhausted: ${why}`, {
    upstream: pool.name,
    retryAfterSeconds: RETRY_AFTER_WHEN_EXHAUSTED_S,
    details: { reason: rejection.reason, waitedMs: Math.round(rejection.waitedMs), ...pool.pressure(0) },
  });
}

export function circuitOpenError(pool: UpstreamPool, retryAfterMs: number): LlmException {
  const { consecutiveFailures, lastFailure } = pool.circuit;
  return new LlmException(
    LlmErrorCode.CIRCUIT_OPEN,
    `upstream "${pool.name}" is failing (circuit open after ${consecutiveFailures} consecutive failures, last: ${lastFailure ?? 'unknown'}); calls fail fast until it is probed again`,
    { upstream: pool.name, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)), details: { circuit: pool.circuit.state, retryAfterMs } },
  );
}

export function noUsableKeyError(pool: UpstreamPool): LlmException {
  const refused = pool.keys.allRefused();
  if (refused) {
    // Every key rests after a 401/403 until its probe: fail fast (a fallback may answer), and say when to come back.
    const { total, statuses, nextProbeInMs } = refused;
    return new LlmException(
      LlmErrorCode.UPSTREAM_UNAVAILABLE,
      `upstream "${pool.name}" has no usable API key: all ${total} keys were refused (${statuses.join('/')}); the next is probed in ${Math.ceil(nextProbeInMs / 1000)} s`,
      { status: 503, upstream: pool.name, retryAfterSeconds: Math.max(1, Math.ceil(nextProbeInMs / 1000)) },
    );
  }
  return new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream "${pool.name}": every usable API key is rate limited`, {
    status: 429,
    upstream: pool.name,
    retryAfterSeconds: Math.max(1, Math.ceil(pool.keys.nextUsableInMs() / 1000)),
  });
}
