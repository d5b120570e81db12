import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import Ajv, { type ValidateFunction } from 'ajv';
import { classToPlain, plainToInstance, type ClassTransformOptions } from 'class-transformer';
import { LlmErrorCode, LlmException } from './llm.exception';

export interface FieldProblem {
  field: string;
  problems: string[];
}

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : parent ? `${parent}.${error.property}` : error.property;
    // class-validator starts each message with the property's own name; the field path replaces it.
    const problems = Object.values(error.constraints ?? {}).map((problem) => (problem.startsWith(`${error.property} `) ? problem.slice(error.property.length + 1) : problem));
    const own = problems.length > 0 ? [{ field, problems }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * The first bad field and why, as the message every SDK shows (`messages[0].role: must be one of ...`),
 * the field as OpenAI's `param`, and every problem in `details.fields`.
 */
export function validationError(fields: FieldProblem[]): LlmException {
  const first = fields[0];
  const message = first ? `${first.field}: ${first.problems[0]}` : 'Request validation failed';
  return new LlmException(LlmErrorCode.BAD_REQUEST, message, { param: first?.field, details: { fields } });
}

function isDtoInstance(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype !== null && prototype !== Object.prototype;
}

/**
 * Puts the caller's own JSON back wherever a DTO does not declare a class: class-transformer
 * copies free-form objects (metadata, filters, JSON Schemas, tools) into `{}` and drops on the
 * way every key that names a member of Object.prototype (`constructor`, `toString`, `valueOf`...).
 * The parsed body already refused `__proto__` (Fastify's onProtoPoisoning) and has nothing else
 * to fear from a key: JSON.parse defines own properties, it never assigns through a prototype.
 */
export function keepCallerJson<T>(entity: T, raw: unknown): T {
  if (!isDtoInstance(entity) || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return entity;
  const dtoPrototype = Object.getPrototypeOf(entity) as object;
  for (const [key, value] of Object.entries(raw)) {
    // The DTO's own members (its constructor, which class-validator reads) are not the caller's to set.
    if (key === '__proto__' || key in dtoPrototype) continue;
    const current = entity[key];
    const kept = callerValue(current, value);
    if (kept !== current) Object.defineProperty(entity, key, { value: kept, writable: true, enumerable: true, configurable: true });
  }
  return entity;
}

const isJsonObject = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * DTO instances stay (class-validator validates what is nested in them), with the caller's JSON
 * inside; a plain object is the caller's own; a primitive stays as transformed (`@Type(() => Number)`).
 */
function callerValue(current: unknown, raw: unknown): unknown {
  if (isDtoInstance(current)) return keepCallerJson(current, raw);
  if (Array.isArray(current) && Array.isArray(raw) && current.length === raw.length) {
    for (let index = 0; index < current.length; index++) current[index] = callerValue(current[index], raw[index]);
    return current;
  }
  return isJsonObject(current) && isJsonObject(raw) ? raw : current;
}

/**
 * The value without its `constructor` keys, for class-transformer only: it takes an object's
 * `constructor` for the class to build. Copies only the objects on the way to such a key.
 */
export function withoutConstructorKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  let copy: Record<string, unknown> | unknown[] | undefined;
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  for (const [key, item] of entries) {
    const fixed = key === 'constructor' ? undefined : withoutConstructorKeys(item);
    if (fixed === item) continue;
    copy ??= Array.isArray(value) ? [...(value as unknown[])] : { ...value };
    if (key === 'constructor') Reflect.deleteProperty(copy, 'constructor');
    else (copy as Record<string | number, unknown>)[key] = fixed;
  }
  return copy ?? value;
}

/** class-transformer, then the caller's JSON back in the free-form parts (see keepCallerJson). */
const callerJsonTransformer = {
  plainToInstance: ((metatype: never, plain: unknown, options?: ClassTransformOptions) =>
    keepCallerJson(plainToInstance(metatype, withoutConstructorKeys(plain), options), plain)) as typeof plainToInstance,
  classToPlain,
};

const schemaCompiler = new Ajv({ allErrors: false, strict: true, strictTypes: false });
// String#length, in O(1): class-validator's MaxLength (validator.js) counts a surrogate pair as one character,
// so this bound is never more lenient than the DTO's; ajv's own maxLength would walk a 1 MB message to count.
schemaCompiler.addKeyword({ keyword: 'maxUtf16Length', type: 'string', schemaType: 'number', validate: (max: number, data: string) => data.length <= max });
const compiledSchemas = new WeakMap<object, ValidateFunction>();

/** A body schema compiled as ValidatedBySchema compiles it (for tests that compare it with its DTO). */
export function compileBodySchema(schema: object): ValidateFunction {
  return schemaCompiler.compile(schema);
}

/**
 * A body DTO that also has a JSON Schema, compiled once: a body the schema accepts is handed over as the
 * caller's JSON without class-transformer and class-validator (on the chat completions route they cost
 * about 14 % of the service's CPU per request); any other body goes through them, so every error (message,
 * `param`, `details.fields`) is exactly the DTO's. The schema must never accept what the DTO refuses.
 * Only for DTOs that convert nothing (no `@Type(() => Number)` and the like): the body is returned as sent.
 */
export function ValidatedBySchema(schema: object): ClassDecorator {
  const validate = compileBodySchema(schema);
  return (target) => {
    compiledSchemas.set(target, validate);
  };
}

/**
 * Nest's pipe deletes `constructor` and `prototype` keys at every depth of the value before it
 * transforms it (the caller's data!); here only `__proto__` goes (a query string can carry it,
 * a JSON body cannot), and class-transformer gets a copy without `constructor` keys instead.
 */
class CallerJsonValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const compiled = metadata.type === 'body' && metadata.metatype ? compiledSchemas.get(metadata.metatype) : undefined;
    if (compiled?.(value)) return Promise.resolve(value);
    return super.transform(value, metadata);
  }

  protected override stripProtoKeys(value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    if (Object.hasOwn(value, '__proto__')) delete (value as Record<string, unknown>).__proto__;
    for (const entry of Object.values(value)) this.stripProtoKeys(entry);
  }
}

/** Validates every body against its DTO; problems come back per field in the error envelope. */
export function createValidationPipe(): ValidationPipe {
  return new CallerJsonValidationPipe({
    transform: true,
    transformerPackage: callerJsonTransformer,
    // Unknown fields pass through: OpenAI-format requests carry many we forward untouched.
    whitelist: false,
    exceptionFactory: (errors) => validationError(flatten(errors)),
  });
}
