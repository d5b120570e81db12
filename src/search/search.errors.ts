import { HttpException, HttpStatus } from '@nestjs/common';
import { errorEnvelope } from '../common/error-envelope';
import { ConfigValidationError } from '../config/env-reader';

/** Errors of the search area, built as the shared error envelope so ErrorEnvelopeFilter sends them as they are. */

export function documentNotFound(id: string): HttpException {
  return new HttpException(errorEnvelope(HttpStatus.NOT_FOUND, 'NOT_FOUND', `document "${id}" not found`), HttpStatus.NOT_FOUND);
}

/** A quota, not a server fault: the caller can delete documents or the operator raise SEARCH_MAX_DOCUMENTS. */
export function indexFull(maxDocuments: number, documents: number, adding: number): HttpException {
  return new HttpException(
    errorEnvelope(HttpStatus.CONFLICT, 'INDEX_FULL', `the index holds ${documents} of at most ${maxDocuments} documents; ${adding} more do not fit`, {
      details: { maxDocuments, documents, adding },
    }),
    HttpStatus.CONFLICT,
  );
}

/** The index file could not be written; the change was not applied, so retrying is safe. */
export function indexWriteFailed(error: unknown): HttpException {
  const reason = (error as NodeJS.ErrnoException)?.code ?? 'write failed';
  return new HttpException(
    errorEnvelope(HttpStatus.SERVICE_UNAVAILABLE, 'INDEX_WRITE_FAILED', `the search index could not be saved (${reason}); nothing was changed`),
    HttpStatus.SERVICE_UNAVAILABLE,
    { cause: error },
  );
}

/**
 * The boot cannot create, read or write SEARCH_DATA_DIR: the operator's to fix, so it is reported
 * like a bad variable (main prints it without a stack trace), with the OS error that says why.
 */
export class SearchDataDirError extends ConfigValidationError {
  constructor(dataDir: string, error: unknown) {
    const cause = error instanceof HttpException && error.cause !== undefined ? error.cause : error;
    super([`SEARCH_DATA_DIR=${dataDir} cannot be used for the search index: ${(cause as Error)?.message ?? String(cause)}`]);
    this.name = 'SearchDataDirError';
  }
}
