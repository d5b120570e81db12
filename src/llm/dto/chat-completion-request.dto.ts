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
  ValidateNested,
  ValidateBy,
  type ValidationOptions,
} from 'class-validator';
import { ValidatedBySchema } from '../../common/validation.pipe';
import type { ChatCompletionRequest, ChatMessage, ChatRole, ContentPart } from '../chat.types';
import { CHAT_COMPLETION_REQUEST_SCHEMA } from './chat-completion-request.schema';

const ROLES: ChatRole[] = ['system', 'developer', 'user', 'assistant', 'tool'];
const MAX_CONTENT_CHARS = 1_000_000;

/** A message's content: a string, null, or an array of typed parts. */
function IsMessageContent(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMessageContent',
      validator: {
        validate: (value: unknown) =>
          value === null ||
          (typeof value === 'string' && value.length <= MAX_CONTENT_CHARS) ||
          (Array.isArray(value) &&
            value.length <= 100 &&
            value.every((part) => typeof part === 'object' && part !== null && typeof (part as ContentPart).type === 'string')),
        defaultMessage: () => `content must be a string (at most ${MAX_CONTENT_CHARS} characters), null, or an array of {type, ...} parts`,
      },
    },
    options,
  );
}

export class ChatMessageDto implements ChatMessage {
  [key: string]: unknown;

  @IsIn(ROLES, { message: `must be one of ${ROLES.join(', ')}` })
  role: ChatRole;

  @IsMessageContent()
  content: string | ContentPart[] | null;

  /** A tool message answers this call of the assistant's. */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  tool_call_id?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(128)
  tool_calls?: unknown[];
}

// The hot route: a valid body is checked by the compiled schema alone; a bad one by the decorators below.
@ValidatedBySchema(CHAT_COMPLETION_REQUEST_SCHEMA)
export class ChatCompletionRequestDto implements ChatCompletionRequest {
  [key: string]: unknown;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  model?: string;

  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(2048)
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages: ChatMessageDto[];

  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  @IsOptional()
  @IsObject()
  stream_options?: { include_usage?: boolean };

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(128)
  tools?: unknown[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max_tokens?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max_completion_tokens?: number;

  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(2)
  temperature?: number;

  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  top_p?: number;
}
