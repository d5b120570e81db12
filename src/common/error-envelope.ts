/**
 * The JSON error body of every endpoint. `error.message` and `error.type` keep
 * OpenAI's clients able to read it; `status`, `code` and `details` are ours.
 */
export interface ErrorEnvelope {
  error: {
    status: number;
    code: string;
    type: string;
    message: string;
    upstream?: string;
    details?: unknown;
    /** OpenAI's field: the request field at fault, e.g. `messages[0].role`; an upstream's own, passed through. */
    param?: string | null;
    /** The request's id (its x-request-id header): quote it to match this answer to its log line. */
    request_id?: string;
    /** The upstream's own id for the answer that failed (stream error events), to quote to the provider. */
    upstream_request_id?: string;
  };
}

export function errorEnvelope(status: number, code: string, message: string, extra: Partial<ErrorEnvelope['error']> = {}): ErrorEnvelope {
  return { error: { status, code, type: status >= 500 ? 'server_error' : 'invalid_request_error', message, ...extra } };
}
