import type { ErrorObject } from 'ajv';

/**
 * What the service asks the worker, the schema always as JSON text (the worker's cache key):
 * to compile it (before the model is called), or to validate a parsed reply against it.
 */
export type SchemaCheckJob = { kind: 'compile'; schemaJson: string } | { kind: 'validate'; schemaJson: string; data: unknown };

export type SchemaCheckRequest = SchemaCheckJob & { id: number };

export type SchemaError = Pick<ErrorObject, 'instancePath' | 'keyword' | 'message' | 'params'>;

export type SchemaCheckResult =
  /** `errors` is empty when the reply is valid (and always, for a compile). */
  | { id: number; errors: SchemaError[] }
  /** Why the schema cannot be used, worded for the caller. */
  | { id: number; invalidSchema: string };
