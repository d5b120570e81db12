export enum LlmErrorCode {
  BAD_REQUEST = 'BAD_REQUEST',
  UNKNOWN_UPSTREAM = 'UNKNOWN_UPSTREAM',
  UNSUPPORTED = 'UNSUPPORTED',
  POOL_EXHAUSTED = 'POOL_EXHAUSTED',
  UPSTREAM_TIMEOUT = 'UPSTREAM_TIMEOUT',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  UPSTREAM_ERROR = 'UPSTREAM_ERROR',
  UPSTREAM_RESPONSE_TOO_LARGE = 'UPSTREAM_RESPONSE_TOO_LARGE',
  CLIENT_CLOSED = 'CLIENT_CLOSED',
  BUDGET_EXCEEDED = 'BUDGET_EXCEEDED',
  CIRCUIT_OPEN = 'CIRCUIT_OPEN',
  SHUTTING_DOWN = 'SHUTTING_DOWN',
  INVALID_OUTPUT = 'INVALID_OUTPUT',
  DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE',
}

const STATUS_BY_CODE: Record<LlmErrorCode, number> = {
  [LlmErrorCode.BAD_REQUEST]: 400,
  [LlmErrorCode.UNKNOWN_UPSTREAM]: 400,
  [LlmErrorCode.UNSUPPORTED]: 400,
  [LlmErrorCode.POOL_EXHAUSTED]: 503,
  [LlmErrorCode.UPSTREAM_TIMEOUT]: 504,
  [LlmErrorCode.UPSTREAM_UNAVAILABLE]: 502,
  [LlmErrorCode.UPSTREAM_ERROR]: 502,
  [LlmErrorCode.UPSTREAM_RESPONSE_TOO_LARGE]: 502,
  // nginx's "client closed request": nobody reads it, but logs and stats do
  [LlmErrorCode.CLIENT_CLOSED]: 499,
  [LlmErrorCode.BUDGET_EXCEEDED]: 429,
  [LlmErrorCode.CIRCUIT_OPEN]: 503,
  [LlmErrorCode.SHUTTING_DOWN]: 503,
  // The model answered, but not in the shape asked for, even after a retry.
  [LlmErrorCode.INVALID_OUTPUT]: 502,
  // PostgreSQL (DATABASE_URL) unreachable, not migrated yet, or past its statement timeout; chat is still served.
  [LlmErrorCode.DATABASE_UNAVAILABLE]: 503,
};

export interface LlmExceptionOptions {
  /** Overrides the code's status, e.g. an upstream 429 passed through as 429. */
  status?: number;
  upstream?: string;
  retryAfterSeconds?: number;
  details?: Record<string, unknown>;
  /** The request field at fault (OpenAI's `error.param`), e.g. `messages[0].role`. */
  param?: string;
}

/** The one domain exception; ErrorEnvelopeFilter turns it into a status and the JSON error envelope. */
export class LlmException extends Error {
  readonly status: number;

  constructor(
    readonly code: LlmErrorCode,
    message: string,
    readonly options: LlmExceptionOptions = {},
  ) {
    super(message);
    this.name = 'LlmException';
    this.status = options.status ?? STATUS_BY_CODE[code];
  }
}
