import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorEnvelope, type ErrorEnvelope } from './error-envelope';
import { LlmException } from './llm.exception';
import type {} from '../observability/request-observer'; // FastifyRequest.exchange

const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  429: 'RATE_LIMITED',
};

/**
 * One filter for every error: domain exceptions, Nest's HTTP exceptions and
 * Fastify's own 4xx (bad JSON, body too large) become the JSON envelope;
 * anything else is logged and becomes a generic 500 that leaks nothing.
 */
@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (reply.sent || reply.raw.headersSent) {
      // A stream already started: the status is gone, so end it rather than corrupt it.
      reply.raw.destroy();
      return;
    }
    const described = this.describe(exception);
    const { status, retryAfterSeconds } = described;
    let body = described.body;
    const request = host.switchToHttp().getRequest<FastifyRequest | undefined>();
    // Every error body names its request, so a caller's report can be matched to the access log line.
    // A copy: an exception may carry an envelope object that is not this request's alone.
    if (request?.id && isEnvelope(body as object)) {
      const { error } = body as ErrorEnvelope;
      body = { error: { ...error, request_id: request.id } };
      if (request.exchange) request.exchange.error = error.code;
    }
    if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
    reply.status(status).send(this.shape(body, status));
  }

  /** The body as this route's clients read errors; ours is the envelope (AnthropicErrorFilter gives Anthropic's shape). */
  protected shape(body: unknown, _status: number): unknown {
    return body;
  }

  private describe(exception: unknown): { status: number; body: unknown; retryAfterSeconds?: number } {
    if (exception instanceof LlmException) {
      const { upstream, details, retryAfterSeconds, param } = exception.options;
      return {
        status: exception.status,
        retryAfterSeconds,
        body: errorEnvelope(exception.status, exception.code, exception.message, { upstream, details, ...(param !== undefined ? { param } : {}) }),
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      // Terminus answers readiness with its own documented body; keep it.
      if (exception instanceof ServiceUnavailableException && isTerminusBody(response)) return { status, body: response };
      return { status, body: this.httpEnvelope(status, response, exception.message) };
    }
    const statusCode = (exception as { statusCode?: unknown })?.statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      // Fastify's own client errors (invalid JSON, body too large, unsupported media type).
      return { status: statusCode, body: errorEnvelope(statusCode, codeFor(statusCode), (exception as Error).message) };
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return { status: 500, body: errorEnvelope(500, 'INTERNAL_ERROR', 'Internal server error') };
  }

  private httpEnvelope(status: number, response: string | object, fallback: string): ErrorEnvelope {
    if (typeof response === 'object' && response !== null && 'error' in response && isEnvelope(response)) return response;
    const message = typeof response === 'object' && response && 'message' in response ? (response as { message: unknown }).message : fallback;
    // ValidationPipe gives a list of messages; they are the details, its summary the message.
    if (Array.isArray(message)) return errorEnvelope(status, codeFor(status), 'Request validation failed', { details: message });
    return errorEnvelope(status, codeFor(status), String(message));
  }
}

function codeFor(status: number): string {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? 'SERVER_ERROR' : 'CLIENT_ERROR');
}

function isTerminusBody(response: unknown): boolean {
  return typeof response === 'object' && response !== null && 'status' in response && 'details' in response;
}

function isEnvelope(response: object): response is ErrorEnvelope {
  const error = (response as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && 'code' in error && 'message' in error;
}
