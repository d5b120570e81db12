import { IsNotEmpty, IsObject, IsOptional, IsString, MaxLength, ValidateBy, type ValidationOptions } from 'class-validator';
import { SearchRequestDto } from './search-request.dto';

// The schema goes into the system prompt of every attempt: keep it prompt-sized.
export const MAX_SCHEMA_CHARS = 16 * 1024;

function MaxJsonChars(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'maxJsonChars',
      validator: {
        validate: (value: unknown) => JSON.stringify(value ?? null).length <= max,
        defaultMessage: (args) => `${args?.property ?? 'value'} must be at most ${max} characters as JSON`,
      },
    },
    options,
  );
}

export class StructuredSearchRequestDto extends SearchRequestDto {
  /** A JSON Schema (draft-07) object; default `{answer: string, citations: string[]}`. */
  @IsOptional()
  @IsObject()
  @MaxJsonChars(MAX_SCHEMA_CHARS)
  schema?: Record<string, unknown>;

  /** `upstream/model`, a bare model on the default upstream, or unset for the default. */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  model?: string;
}
