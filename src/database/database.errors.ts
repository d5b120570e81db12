import { LlmErrorCode, LlmException } from '../common/llm.exception';

// SQLSTATE classes and codes that mean "the database is not there right now", not "this query is wrong":
// 08 connection exception, 57P01-03 shutting down / cannot connect now, 53300 too many connections,
// 57014 canceled (our statement_timeout).
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);
// node-postgres reports these without a code.
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error|Cannot use a pool after calling end/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  return UNAVAILABLE_MESSAGES.test(message ?? '');
}

/** 503 DATABASE_UNAVAILABLE: retrying later is safe, nothing was committed. */
export function databaseUnavailable(reason: string): LlmException {
  return new LlmException(LlmErrorCode.DATABASE_UNAVAILABLE, `the database is unavailable: ${reason}`, { retryAfterSeconds: 1 });
}

/** A connection-level failure becomes DATABASE_UNAVAILABLE; anything else (a bug, a constraint) is rethrown as it is. */
export function asDatabaseError(error: unknown): unknown {
  if (error instanceof LlmException || !isDatabaseUnavailable(error)) return error;
  const { code, message } = error as { code?: string; message?: string };
  return databaseUnavailable(code === '57014' ? 'the statement ran past DATABASE_STATEMENT_TIMEOUT_MS' : (message ?? String(code)));
}
