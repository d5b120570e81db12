import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpService } from '@nestjs/axios';
import { Injectable, Logger } from '@nestjs/common';
import type { AxiosError, AxiosResponse } from 'axios';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { UpstreamConfig } from '../config/llm.config';
import { GateRejection } from '../pool/admission-gate';
import type { KeyLease } from '../pool/api-key-pool';
import type { ErrorKind } from '../pool/pool-counters';
import type { RequestExchange } from '../observability/request-exchange';
import type { AttemptTrace } from '../observability/tracing';
import { PoolRegistry } from '../pool/pool-registry';
import type { Lease, UpstreamPool } from '../pool/upstream-pool';
import { startAttemptTimers, type AttemptTimers } from './attempt-timers';
import { UpstreamBodyTap, pipeInto, readErrorBody } from './upstream-body';
import { upstreamHttpAdapter } from './upstream-http.adapter';
import { RETRY_AT_ONCE, planHttpRetry, planTransportRetry, type RetryPlan } from './retry-policy';
import {
  circuitOpenError,
  classifyFailure,
  describeFailure,
  noUsableKeyError,
  poolExhaustedError,
  shuttingDownError,
  upstreamHttpError,
  upstreamRedirectError,
} from './upstream-errors';

export interface UpstreamRequest {
  path: string;
  body: unknown;
  /** The wire format's headers for a key (or for none). */
  headers: (apiKey: string | undefined) => Record<string, string>;
  /** The caller's signal: aborting it aborts the upstream request and frees the slot. */
  signal?: AbortSignal;
  /** The request this call is made for: its id goes upstream, its attempts and the upstream's id come back. */
  exchange?: RequestExchange;
}

export interface UpstreamStream {
  /** The response body; destroying it ends the upstream request. */
  body: Readable;
  /** What an error from the body (or from reading it) means to the caller (stalled, deadline, reset, too large). */
  failure(error: unknown): LlmException;
  /** The bound on one SSE event (LLM_MAX_SSE_EVENT_BYTES), for the reader of `body`. */
  maxEventBytes: number;
  /** Resolves once the upstream body has closed and the slot is free: after a whole body, its socket is back in the pool. */
  released: Promise<void>;
}

type ResponseType = 'json' | 'stream';

interface Attempt {
  response: AxiosResponse;
  timers: AttemptTimers;
  started: number;
  /** Releases the slot, the key and the timers; idempotent. */
  end(): void;
  /** The attempt's span, when tracing is on; end() ends it. */
  trace?: AttemptTrace;
}

/**
 * The one way to an upstream: circuit breaker, API key, admission through the
 * pool's gate, the pool's agent, deadlines, retries, and every outcome counted.
 * Retries happen only before the caller has received any byte.
 */
@Injectable()
export class UpstreamClient {
  private readonly logger = new Logger('UpstreamClient');

  constructor(
    private readonly http: HttpService,
    private readonly pools: PoolRegistry,
  ) {}

  async json(upstream: UpstreamConfig, request: UpstreamRequest): Promise<unknown> {
    const pool = this.pools.get(upstream.name);
    const attempt = await this.attempt(pool, request, 'json');
    attempt.end();
    pool.recordSuccess(performance.now() - attempt.started);
    return attempt.response.data;
  }

  /** Resolves once the upstream answered 2xx with its headers; the slot is held until the body ends. */
  async stream(upstream: UpstreamConfig, request: UpstreamRequest): Promise<UpstreamStream> {
    const pool = this.pools.get(upstream.name);
    const { response, timers, started, end, trace } = await this.attempt(pool, request, 'stream');
    const upstreamBody = response.data as Readable;
    const requestId = request.exchange?.id;
    const body = new UpstreamBodyTap(
      timers,
      pool.settings.maxResponseBytes,
      () => {
        const elapsedMs = performance.now() - started;
        pool.recordFirstChunk(elapsedMs);
        trace?.firstToken(elapsedMs);
      },
      request.exchange,
    );
    let failure: ErrorKind | undefined;
    upstreamBody.once('error', (error: NodeJS.ErrnoException) => {
      // A premature close with no timer behind it is our reader letting go (the caller left), not the upstream failing.
      failure ??= error.code === 'ERR_STREAM_PREMATURE_CLOSE' && !timers.reason() ? 'client_closed' : classifyFailure(error, timers.reason());
    });
    pipeInto(upstreamBody, body);
    // The body must end when the signal fires (caller gone, deadline, stall), whether or not axios ends it.
    const onAbort = () => upstreamBody.destroy(timers.reason() === 'caller' ? undefined : new Error(timers.reason()));
    timers.signal.addEventListener('abort', onAbort, { once: true });
    upstreamBody.once('close', () => {
      timers.signal.removeEventListener('abort', onAbort);
      if (upstreamBody.readableEnded && !failure) pool.recordSuccess(performance.now() - started);
      else {
        const reason = timers.reason();
        const kind = failure ?? (reason === 'caller' ? 'client_closed' : reason === 'shutdown' ? 'shutdown' : 'connection_reset');
        trace?.failed(kind, response.request);
        pool.recordStreamFailure(kind, requestId);
      }
      end();
    });
    const describe = (error: unknown) => {
      if (error instanceof LlmException) return error;
      // Our reader's own verdicts (an SSE event too large) happen before it destroys the body: remember them,
      // or that destruction would read as the caller leaving.
      const kind = classifyFailure(error, timers.reason());
      failure ??= kind;
      return describeFailure(pool, kind, error);
    };
    // Registered after the handler above, so it resolves once end() has freed the slot.
    const released = new Promise<void>((resolve) => upstreamBody.once('close', () => resolve()));
    return { body, failure: describe, maxEventBytes: pool.settings.maxSseEventBytes, released };
  }

  /** Attempts until one answers 2xx, or no retry is left: then throws what the caller should see. */
  private async attempt(pool: UpstreamPool, request: UpstreamRequest, responseType: ResponseType): Promise<Attempt> {
    const deadlineAt = Date.now() + pool.settings.timeoutMs;
    const { exchange } = request;
    const requestId = exchange?.id;
    let retries = 0;
    let staleRetried = false;
    let repeatsStale = false;
    for (;;) {
      const key = this.enter(pool, requestId);
      const lease = await this.admit(pool, key, request);
      const idleMs = responseType === 'stream' ? pool.settings.idleTimeoutMs : undefined;
      const timers = startAttemptTimers(deadlineAt, idleMs, request.signal, pool.shutdownSignal);
      const started = performance.now();
      const trace = exchange?.trace?.attempt({
        upstream: pool.name,
        wire: pool.upstream.wire,
        url: `${pool.upstream.baseUrl}${request.path}`,
        body: request.body,
        retry: retries,
        staleRepeat: repeatsStale,
      });
      repeatsStale = false;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        trace?.end();
        timers.dispose();
        lease.release();
        key.release();
      };

      let next: RetryPlan | LlmException;
      try {
        const response = await this.send(pool, request, key, timers.signal, responseType, trace);
        trace?.answered(response.status, response.request, responseType === 'json' ? response.data : undefined);
        // The key's verdict, whatever the call's: a 401/403 rests it, an accepting answer ends its probe.
        pool.keys.answered(key.index, response.status);
        timers.touch();
        if (response.status >= 200 && response.status < 300) {
          pool.recordAnswer(response.status, requestId);
          return { response, timers, started, end, trace };
        }
        const body = responseType === 'stream' ? await readErrorBody(response.data as Readable) : response.data;
        next = this.afterErrorAnswer(pool, key, response, body, retries, deadlineAt, exchange);
      } catch (error) {
        const kind = classifyFailure(error, timers.reason());
        trace?.failed(kind, (error as AxiosError | undefined)?.request);
        // A reused socket the server had already closed, failing before any response byte:
        // the upstream is fine and the request never ran, so repeat it once, on another socket.
        repeatsStale = !staleRetried && kind === 'connection_reset' && isReusedSocketWithoutResponse(error);
        if (repeatsStale) {
          staleRetried = true;
          pool.recordStaleSocket();
          exchange?.staleRetried();
          next = RETRY_AT_ONCE;
        } else {
          pool.recordTransportFailure(kind, requestId);
          next = planTransportRetry(pool, kind, retries, deadlineAt) ?? describeFailure(pool, kind, error);
        }
      }
      end();
      if (next instanceof LlmException) throw this.giveUp(pool, next);
      if (next.counts) retries++;
      pool.recordRetry();
      if (next.delayMs > 0) await this.waitToRetry(pool, request.signal, next.delayMs);
    }
  }

  /** The circuit, then a key: throws what the caller should see when either refuses, or when we are shutting down. */
  private enter(pool: UpstreamPool, requestId: string | undefined): KeyLease {
    // Cut by our own shutdown (e.g. while waiting to retry): say so, and ask nothing more of the upstream.
    if (pool.shutdownSignal.aborted) throw shuttingDownError(pool);
    const decision = pool.enterCircuit(requestId);
    if (!decision.allowed) throw this.giveUp(pool, circuitOpenError(pool, decision.retryAfterMs));
    const key = pool.keys.acquire();
    if (key) return key;
    pool.recordNotSent();
    throw this.giveUp(pool, noUsableKeyError(pool));
  }

  /** A slot on the pool for `key`'s call; when the gate refuses, the key goes back and the caller hears why. */
  private async admit(pool: UpstreamPool, key: KeyLease, request: UpstreamRequest): Promise<Lease> {
    try {
      return await pool.acquire(request.signal, request.exchange?.trace);
    } catch (error) {
      if (error instanceof GateRejection && error.reason === 'aborted') pool.recordFailure('client_closed');
      const failure = error instanceof GateRejection ? poolExhaustedError(pool, error) : (error as LlmException);
      key.release();
      pool.recordNotSent();
      throw this.giveUp(pool, failure);
    }
  }

  /** A non-2xx answer, recorded (and logged when 5xx): what comes next, a retry or the error the caller should see. */
  private afterErrorAnswer(
    pool: UpstreamPool,
    key: KeyLease,
    response: AxiosResponse,
    body: unknown,
    retries: number,
    deadlineAt: number,
    exchange: RequestExchange | undefined,
  ): RetryPlan | LlmException {
    const { status } = response;
    if (status < 400) {
      // A redirect is never a completion, even when its body looks like one (and it is not followed:
      // maxRedirects 0). It fails every call the same way, so it counts against the circuit; no retry.
      pool.recordAnswer(status, exchange?.id);
      return upstreamRedirectError(pool, status);
    }
    const failure = upstreamHttpError(pool, status, body, response.headers);
    const retry = planHttpRetry(pool, key.index, response, retries, deadlineAt);
    // Logged here, once per answer: the caller's error (or the retry's success) does not say the upstream failed.
    if (status >= 500) this.logUpstreamError(pool, status, failure, retry !== undefined, exchange);
    pool.recordAnswer(status, exchange?.id);
    return retry ?? failure;
  }

  /** Waits out a retry's delay; our shutdown or the caller leaving ends the call instead. */
  private async waitToRetry(pool: UpstreamPool, callerSignal: AbortSignal | undefined, delayMs: number): Promise<void> {
    try {
      await sleep(delayMs, undefined, { signal: AbortSignal.any([pool.shutdownSignal, ...(callerSignal ? [callerSignal] : [])]) });
    } catch {
      if (pool.shutdownSignal.aborted) throw shuttingDownError(pool);
      pool.recordFailure('client_closed');
      throw this.giveUp(pool, new LlmException(LlmErrorCode.CLIENT_CLOSED, 'the caller went away', { upstream: pool.name }));
    }
  }

  private logUpstreamError(pool: UpstreamPool, status: number, failure: LlmException, retrying: boolean, exchange: RequestExchange | undefined): void {
    this.logger.warn({
      event: 'upstream_5xx',
      upstream: pool.name,
      status,
      // The upstream's own message, already scrubbed of keys (upstreamHttpError).
      reason: failure.message,
      retrying,
      request_id: exchange?.id,
      upstream_request_id: exchange?.upstreamRequestId,
    });
  }

  private giveUp(pool: UpstreamPool, error: LlmException): LlmException {
    // Neither the caller leaving nor our own shutdown is a failed call of the upstream's.
    if (error.code !== LlmErrorCode.CLIENT_CLOSED && error.code !== LlmErrorCode.SHUTTING_DOWN) pool.recordFailedCall();
    return error;
  }

  private send(pool: UpstreamPool, request: UpstreamRequest, key: KeyLease, signal: AbortSignal, responseType: ResponseType, trace?: AttemptTrace) {
    // Our request id goes upstream; the upstream's own id for its answer comes back to the access log line.
    const { exchange } = request;
    exchange?.attempted();
    return this.http.axiosRef.request({
      method: 'POST',
      url: `${pool.upstream.baseUrl}${request.path}`,
      data: request.body,
      headers: {
        'content-type': 'application/json',
        accept: responseType === 'stream' ? 'text/event-stream' : 'application/json',
        ...exchange?.upstreamHeaders(),
        // The W3C traceparent naming this attempt's span, so the upstream's own trace continues ours.
        ...trace?.headers(),
        ...request.headers(key.key),
      },
      httpAgent: pool.agent,
      httpsAgent: pool.agent,
      // One http(s).request on the pool's agent instead of axios' general-purpose node adapter (see the adapter).
      adapter: upstreamHttpAdapter,
      responseType,
      // A body read whole stops at the bound (the adapter destroys the socket); a stream is counted by UpstreamBodyTap,
      // which can tell our reader why.
      maxContentLength: responseType === 'json' ? pool.settings.maxResponseBytes : -1,
      signal,
    }).then((response) => {
      exchange?.answered(response.headers);
      return response;
    });
  }
}

function isReusedSocketWithoutResponse(error: unknown): boolean {
  const axiosError = error as AxiosError & { request?: { reusedSocket?: boolean } };
  return Boolean(axiosError?.request?.reusedSocket) && !axiosError.response;
}
