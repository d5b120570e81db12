import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
  type ValidationOptions,
} from 'class-validator';
import type { MessagesRequest } from './messages.types';

const ROLES = ['user', 'assistant'] as const;
const MAX_TEXT_CHARS = 1_000_000;

/** A string, or an array of typed blocks (`{type, ...}`), as Anthropic's `content` and `system` are. */
function IsTextOrBlocks(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTextOrBlocks',
      validator: {
        validate: (value: unknown) =>
          (typeof value === 'string' && value.length <= MAX_TEXT_CHARS) ||
          (Array.isArray(value) &&
            value.length <= 1000 &&
            value.every((block) => typeof block === 'object' && block !== null && typeof (block as { type?: unknown }).type === 'string')),
        defaultMessage: () => `must be a string (at most ${MAX_TEXT_CHARS} characters) or an array of {type, ...} blocks`,
      },
    },
    options,
  );
}

export class AnthropicMessageDto {
  @IsIn(ROLES, { message: `must be one of ${ROLES.join(', ')}` })
  role: 'user' | 'assistant';

  @IsTextOrBlocks()
  content: string | (Record<string, unknown> & { type?: unknown })[];
}

/** POST /v1/messages/count_tokens: what is counted. Unknown fields pass through to an Anthropic-wire upstream. */
export class CountTokensRequestDto implements MessagesRequest {
  [key: string]: unknown;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  model?: string;

  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(2048)
  @ValidateNested({ each: true })
  @Type(() => AnthropicMessageDto)
  messages: AnthropicMessageDto[];

  @IsOptional()
  @IsTextOrBlocks()
  system?: string | Record<string, unknown>[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(128)
  tools?: unknown[];

  @IsOptional()
  @IsObject()
  tool_choice?: unknown;
}

/** POST /v1/messages: Anthropic's Messages API; `max_tokens` is required, as Anthropic requires it. */
export class MessagesRequestDto extends CountTokensRequestDto {
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max_tokens: number;

  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  temperature?: number;

  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  top_p?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  top_k?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  stop_sequences?: string[];

  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}
