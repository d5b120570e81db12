import type { Readable } from 'node:stream';
import { HttpService } from '@nestjs/axios';
import { Injectable } from '@nestjs/common';
import { AxiosError, type AxiosResponse } from 'axios';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { UpstreamConfig } from '../config/llm.config';
import { GateRejection } from '../pool/admission-gate';
import type { ErrorKind } from '../pool/pool-counters';
import { PoolRegistry } from '../pool/pool-registry';
import type { UpstreamPool } from '../pool/upstream-pool';
import { upstreamErrorMessage } from './codecs/wire-codec';

export interface UpstreamRequest {
  path: string;
  body: unknown;
  headers: Record<string, string>;
  /** The caller's signal: aborting it aborts the upstream request and frees the slot. */
  signal?: AbortSignal;
}

export interface UpstreamStream {
  /** The response body; destroying it ends the upstream request. */
  body: Readable;
}

const RETRY_AFTER_WHEN_EXHAUSTED_S = 1;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The one way to an upstream: admission through the pool's gate, the pool's
 * agent for the socket, a whole-call deadline, and every outcome counted.
 */
@Injectable()
export class UpstreamClient {
  constructor(
    private readonly http: HttpService,
    private readonly pools: PoolRegistry,
  ) {}

  async json(upstream: UpstreamConfig, request: UpstreamRequest): Promise<unknown> {
    const pool = this.pools.get(upstream.name);
    const lease = await this.admit(pool, request.signal);
    const call = this.deadline(pool, request.signal);
    const started = performance.now();
    try {
      const response = await this.send(pool, request, call.signal, 'json');
      if (response.status >= 400) throw this.httpError(pool, response.status, response.data, response.headers);
      pool.recordSuccess(performance.now() - started);
      return response.data;
    } catch (error) {
      throw this.failure(pool, error, call.timedOut());
    } finally {
      call.dispose();
      lease.release();
    }
  }

  /** Resolves once the upstream answered 2xx with its headers; the slot is held until the body ends. */
  async stream(upstream: UpstreamConfig, request: UpstreamRequest): Promise<UpstreamStream> {
    const pool = this.pools.get(upstream.name);
    const lease = await this.admit(pool, request.signal);
    const call = this.deadline(pool, request.signal);
    const started = performance.now();
    let response: AxiosResponse<Readable>;
    try {
      response = await this.send(pool, request, call.signal, 'stream');
      if (response.status >= 400) {
        const body = await readErrorBody(response.data);
        throw this.httpError(pool, response.status, body, response.headers);
      }
    } catch (error) {
      call.dispose();
      lease.release();
      throw this.failure(pool, error, call.timedOut());
    }

    const body = response.data;
    let failed = false;
    // axios does not end a response it already resolved when the signal fires: do it here.
    const onAbort = () => body.destroy();
    call.signal.addEventListener('abort', onAbort, { once: true });
    body.once('error', (error) => {
      failed = true;
      this.failure(pool, error, call.timedOut());
    });
    body.once('close', () => {
      call.signal.removeEventListener('abort', onAbort);
      if (!failed) {
        if (body.readableEnded) pool.recordSuccess(performance.now() - started);
        else pool.recordFailure(call.timedOut() ? 'request_timeout' : 'client_closed');
      }
      call.dispose();
      lease.release();
    });
    return { body };
  }

  private async admit(pool: UpstreamPool, signal?: AbortSignal) {
    try {
      return await pool.acquire(signal);
    } catch (error) {
      if (!(error instanceof GateRejection)) throw error;
      if (error.reason === 'aborted') {
        pool.recordFailure('client_closed');
        throw new LlmException(LlmErrorCode.CLIENT_CLOSED, 'the caller went away while waiting for a connection', { upstream: pool.name });
      }
      const why =
        error.reason === 'queue_full'
          ? `all ${pool.settings.maxConnections} connections are busy and ${pool.settings.maxQueue} requests already wait`
          : `no connection became free within ${pool.settings.poolTimeoutMs} ms`;
      throw new LlmException(LlmErrorCode.POOL_EXHAUSTED, `upstream "${pool.name}" is exhausted: ${why}`, {
        upstream: pool.name,
        retryAfterSeconds: RETRY_AFTER_WHEN_EXHAUSTED_S,
        details: { reason: error.reason, waitedMs: Math.round(error.waitedMs), ...pool.pressure(0) },
      });
    }
  }

  /** The whole-call deadline, combined with the caller's signal. */
  private deadline(pool: UpstreamPool, callerSignal?: AbortSignal) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('deadline')), pool.settings.timeoutMs);
    let timedOut = false;
    const onTimeout = () => (timedOut = true);
    controller.signal.addEventListener('abort', onTimeout, { once: true });
    const onCaller = () => {
      controller.signal.removeEventListener('abort', onTimeout);
      controller.abort(callerSignal?.reason);
    };
    callerSignal?.addEventListener('abort', onCaller, { once: true });
    return {
      signal: controller.signal,
      timedOut: () => timedOut,
      dispose: () => {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onCaller);
      },
    };
  }

  private send<T>(pool: UpstreamPool, request: UpstreamRequest, signal: AbortSignal, responseType: 'json' | 'stream') {
    return this.http.axiosRef.request<T>({
      method: 'POST',
      url: `${pool.upstream.baseUrl}${request.path}`,
      data: request.body,
      headers: { 'content-type': 'application/json', accept: responseType === 'stream' ? 'text/event-stream' : 'application/json', ...request.headers },
      httpAgent: pool.agent,
      httpsAgent: pool.agent,
      responseType,
      signal,
    });
  }

  private httpError(pool: UpstreamPool, status: number, body: unknown, headers: AxiosResponse['headers']): LlmException {
    pool.recordFailure(status >= 500 ? 'http_5xx' : 'http_4xx');
    const message = upstreamErrorMessage(body) ?? (typeof body === 'string' && body ? body.slice(0, 500) : 'no error message');
    const retryAfter = Number(headers['retry-after']);
    return new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream "${pool.name}" answered ${status}: ${message}`, {
      status,
      upstream: pool.name,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
    });
  }

  /** Counts a failure once, by kind, and says what it was in the caller's terms. */
  private failure(pool: UpstreamPool, error: unknown, timedOut: boolean): LlmException {
    if (error instanceof LlmException) return error;
    const code = (error as AxiosError)?.code ?? (error as NodeJS.ErrnoException)?.code;
    const kind: ErrorKind = timedOut
      ? 'request_timeout'
      : code === 'ERR_CANCELED'
        ? 'client_closed'
        : code === 'ECONNREFUSED'
          ? 'connect_refused'
          : code === 'ETIMEDOUT_CONNECT'
            ? 'connect_timeout'
            : code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE'
              ? 'connection_reset'
              : code === 'ERR_SOCKET_TIMEOUT' || code === 'ETIMEDOUT' || code === 'ECONNABORTED'
                ? 'request_timeout'
                : 'other';
    pool.recordFailure(kind);
    const upstream = pool.name;
    const detail = (error as Error)?.message ?? String(error);
    switch (kind) {
      case 'client_closed':
        return new LlmException(LlmErrorCode.CLIENT_CLOSED, 'the caller went away', { upstream });
      case 'request_timeout':
        return new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `upstream "${upstream}" did not answer within ${pool.settings.timeoutMs} ms`, { upstream });
      case 'connect_timeout':
        return new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `could not connect to upstream "${upstream}" within ${pool.settings.connectTimeoutMs} ms`, { upstream });
      case 'connect_refused':
        return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${upstream}" refused the connection`, { upstream });
      case 'connection_reset':
        return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${upstream}" closed the connection: ${detail}`, { upstream });
      default:
        return new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `request to upstream "${upstream}" failed: ${detail}`, { upstream });
    }
  }
}

async function readErrorBody(stream: Readable): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_ERROR_BODY_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  stream.destroy();
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
