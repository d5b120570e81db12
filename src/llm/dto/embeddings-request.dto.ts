import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateBy, type ValidationOptions } from 'class-validator';
import type { EmbeddingsRequest } from '../chat.types';

export const MAX_EMBEDDING_INPUTS = 2048;
export const MAX_EMBEDDING_INPUT_CHARS = 100_000;

/** A non-empty string, or a non-empty array of at most 2048 of them, each at most 100 000 characters. */
function IsEmbeddingsInput(options?: ValidationOptions): PropertyDecorator {
  const fits = (value: unknown) => typeof value === 'string' && value.length > 0 && value.length <= MAX_EMBEDDING_INPUT_CHARS;
  return ValidateBy(
    {
      name: 'isEmbeddingsInput',
      validator: {
        validate: (value: unknown) =>
          fits(value) || (Array.isArray(value) && value.length > 0 && value.length <= MAX_EMBEDDING_INPUTS && value.every(fits)),
        defaultMessage: () =>
          `input must be a non-empty string or an array of 1 to ${MAX_EMBEDDING_INPUTS} non-empty strings, each at most ${MAX_EMBEDDING_INPUT_CHARS} characters`,
      },
    },
    options,
  );
}

/** OpenAI's embeddings request; fields not listed here are forwarded untouched. */
export class EmbeddingsRequestDto implements EmbeddingsRequest {
  [key: string]: unknown;

  @ApiPropertyOptional({
    description: '`upstream/model`, or a model of the default upstream (LLM_PROVIDER).',
    example: 'openai/text-embedding-3-small',
    maxLength: 256,
  })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  model?: string;

  @ApiProperty({
    description: `The text to embed, or up to ${MAX_EMBEDDING_INPUTS} texts (each at most ${MAX_EMBEDDING_INPUT_CHARS} characters).`,
    oneOf: [
      { type: 'string', maxLength: MAX_EMBEDDING_INPUT_CHARS },
      { type: 'array', items: { type: 'string', maxLength: MAX_EMBEDDING_INPUT_CHARS }, minItems: 1, maxItems: MAX_EMBEDDING_INPUTS },
    ],
    example: ['The Eiffel Tower is in Paris.', 'Bananas are yellow.'],
  })
  @IsEmbeddingsInput()
  input: string | string[];

  @ApiPropertyOptional({ description: 'Shorter vectors, on models that support it.', minimum: 1, maximum: 16_384, example: 256 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(16_384)
  dimensions?: number;

  @ApiPropertyOptional({ description: 'base64 = little-endian float32 (what the official SDKs ask for).', enum: ['float', 'base64'], default: 'float' })
  @IsOptional()
  @IsIn(['float', 'base64'])
  encoding_format?: 'float' | 'base64';

  @ApiPropertyOptional({ description: 'End-user id, forwarded to the upstream.', maxLength: 256, example: 'user-1234' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  user?: string;
}
