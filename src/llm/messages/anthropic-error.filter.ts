import { Catch } from '@nestjs/common';
import type { ErrorEnvelope } from '../../common/error-envelope';
import { ErrorEnvelopeFilter } from '../../common/error-envelope.filter';

/** Anthropic's error types by status, as its SDKs and tools read them. */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** An error envelope in Anthropic's shape: `{type: "error", error: {type, message}, request_id}`. */
export function anthropicError(status: number, envelope: ErrorEnvelope | undefined): Record<string, unknown> {
  const error = envelope?.error;
  return {
    type: 'error',
    error: { type: anthropicErrorType(status), message: error?.message ?? 'error', ...(error?.code ? { code: error.code } : {}) },
    ...(error?.request_id ? { request_id: error.request_id } : {}),
  };
}

/**
 * The error filter of /v1/messages: the same decisions as everywhere (status, message, Retry-After,
 * request id), in the shape Anthropic's SDKs read.
 */
@Catch()
export class AnthropicErrorFilter extends ErrorEnvelopeFilter {
  protected override shape(body: unknown, status: number): unknown {
    return anthropicError(status, body as ErrorEnvelope);
  }
}
