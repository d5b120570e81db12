import Ajv, { type ValidateFunction } from 'ajv';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { SchemaCheckRequest, SchemaCheckResult } from './schema-check.protocol';

// Callers repeat their schemas: keep the compiled ones, a bounded few (oldest out first).
const CACHED_SCHEMAS = 64;
const compiled = new Map<string, ValidateFunction>();

/**
 * One Ajv per schema: ajv caches what it compiles and refuses a repeated `$id`, so a shared
 * one would grow and conflict. allErrors is off: on untrusted data it is ajv's documented DoS risk.
 */
function validatorFor(schemaJson: string): ValidateFunction {
  let validate = compiled.get(schemaJson);
  if (validate) return validate;
  validate = new Ajv({ allErrors: false, strict: false, validateFormats: false, logger: false }).compile(JSON.parse(schemaJson) as object);
  if (compiled.size >= CACHED_SCHEMAS) compiled.delete(compiled.keys().next().value!);
  compiled.set(schemaJson, validate);
  return validate;
}

function answer(request: SchemaCheckRequest): SchemaCheckResult {
  const { id } = request;
  let validate: ValidateFunction;
  try {
    validate = validatorFor(request.schemaJson);
  } catch (error) {
    return { id, invalidSchema: `schema is not a valid JSON Schema: ${(error as Error).message}` };
  }
  if ((validate as { $async?: unknown }).$async) return { id, invalidSchema: 'schema must not be $async' };
  if (request.kind === 'compile' || validate(request.data)) return { id, errors: [] };
  return { id, errors: (validate.errors ?? []).map(({ instancePath, keyword, message, params }) => ({ instancePath, keyword, message, params })) };
}

/**
 * Compiles callers' schemas and runs them on model replies, where a catastrophic pattern can
 * stall only this thread (which the service then terminates), and compiling (some 20 ms of
 * ajv per schema) does not hold up the service's event loop either.
 */
// Lowest CPU priority for this thread alone (on Linux a thread has its own nice value, and pid 0 is the calling
// thread): a pattern spinning here until its time limit then never takes a core from the event loop on a busy node.
try {
  setPriority(0, 19);
} catch {
  // Not permitted here (some containers): the time limit still bounds it.
}

parentPort!.on('message', (request: SchemaCheckRequest) => parentPort!.postMessage(answer(request)));
parentPort!.postMessage('ready');
