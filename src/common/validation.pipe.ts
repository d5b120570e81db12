import { ValidationPipe, type ValidationError } from '@nestjs/common';
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

/** Validates every body against its DTO; problems come back per field in the error envelope. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    // Unknown fields pass through: OpenAI-format requests carry many we forward untouched.
    whitelist: false,
    exceptionFactory: (errors) => validationError(flatten(errors)),
  });
}
