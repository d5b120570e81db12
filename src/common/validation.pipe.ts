import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { LlmErrorCode, LlmException } from './llm.exception';

export interface FieldProblem {
  field: string;
  problems: string[];
}

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** Validates every body against its DTO; problems come back per field in the error envelope. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    // Unknown fields pass through: OpenAI-format requests carry many we forward untouched.
    whitelist: false,
    exceptionFactory: (errors) =>
      new LlmException(LlmErrorCode.BAD_REQUEST, 'Request validation failed', { details: { fields: flatten(errors) } }),
  });
}
