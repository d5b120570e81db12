import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
  ValidateNested,
  type ValidationArguments,
  type ValidationOptions,
} from 'class-validator';
import type { SynthesisFormat, SynthesisSource } from '../synthesis-prompt';

export const SYNTHESIS_LIMITS = {
  questionChars: 4_000,
  sources: 50,
  idChars: 200,
  textChars: 50_000,
  totalTextBytes: 1_000_000,
  maxTokens: 8_192,
  topK: 20,
  defaultTopK: 5,
} as const;

const FORMATS: SynthesisFormat[] = ['text', 'json'];

// An id is cited as `[id]`, so brackets and line breaks would make it unreadable in the answer.
const CITABLE_ID = /^[^[\]\p{Cc}]+$/u;

const isNonEmptyArray = (value: unknown) => Array.isArray(value) && value.length > 0;

/** Sources and useSearch are the two ways to give the material: exactly one of them. */
function IsSourcesUnlessSearch(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isSourcesUnlessSearch',
      validator: {
        validate: (value: unknown, args?: ValidationArguments) =>
          (args?.object as SynthesisRequestDto).useSearch === true ? !isNonEmptyArray(value) : isNonEmptyArray(value),
        defaultMessage: (args?: ValidationArguments) =>
          (args?.object as SynthesisRequestDto).useSearch === true
            ? 'sources must be omitted when useSearch is true (the sources then come from search)'
            : 'sources must be a non-empty array, unless useSearch is true',
      },
    },
    options,
  );
}

function IsNotWithSources(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isNotWithSources',
      validator: {
        validate: (value: unknown, args?: ValidationArguments) => value !== true || !isNonEmptyArray((args?.object as SynthesisRequestDto).sources),
        defaultMessage: () => 'useSearch cannot be combined with sources: give sources, or set useSearch to retrieve them',
      },
    },
    options,
  );
}

function HasUniqueIds(options?: ValidationOptions): PropertyDecorator {
  const duplicatesOf = (value: unknown) => {
    const ids = Array.isArray(value) ? value.map((source) => (source as { id?: unknown })?.id).filter((id) => typeof id === 'string') : [];
    return [...new Set(ids.filter((id, index) => ids.indexOf(id) !== index))];
  };
  return ValidateBy(
    {
      name: 'hasUniqueIds',
      validator: {
        validate: (value: unknown) => duplicatesOf(value).length === 0,
        defaultMessage: (args?: ValidationArguments) => `source ids must be unique; repeated: ${duplicatesOf(args?.value).join(', ')}`,
      },
    },
    options,
  );
}

/** The per-source limit is in characters; the total is in UTF-8 bytes, what the prompt costs on the wire. */
function HasTotalTextBytesAtMost(maxBytes: number, options?: ValidationOptions): PropertyDecorator {
  const bytesOf = (value: unknown) =>
    Array.isArray(value)
      ? value.reduce((total: number, source) => {
          const text = (source as { text?: unknown })?.text;
          return total + (typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : 0);
        }, 0)
      : 0;
  return ValidateBy(
    {
      name: 'hasTotalTextBytesAtMost',
      validator: {
        validate: (value: unknown) => bytesOf(value) <= maxBytes,
        defaultMessage: (args?: ValidationArguments) => `the texts of all sources must total at most ${maxBytes} bytes (UTF-8); got ${bytesOf(args?.value)}`,
      },
    },
    options,
  );
}

/** A structured answer is checked (and retried) before it is returned, so it cannot be streamed. */
function IsNotStreamedJson(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isNotStreamedJson',
      validator: {
        validate: (value: unknown, args?: ValidationArguments) => !(value === 'json' && (args?.object as SynthesisRequestDto).stream === true),
        defaultMessage: () => 'format json cannot be streamed: the answer is validated as a whole (set stream to false)',
      },
    },
    options,
  );
}

export class SynthesisSourceDto implements SynthesisSource {
  @ApiProperty({ description: 'Unique among the sources; the answer cites it as `[id]`.', maxLength: SYNTHESIS_LIMITS.idChars, example: 'doc-1' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(SYNTHESIS_LIMITS.idChars)
  @Matches(CITABLE_ID, { message: 'id must not contain square brackets or control characters (it is cited as [id])' })
  id: string;

  @ApiProperty({ maxLength: SYNTHESIS_LIMITS.textChars, example: 'The Eiffel Tower is in Paris. It opened in 1889.' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(SYNTHESIS_LIMITS.textChars)
  text: string;

  @ApiPropertyOptional({ description: 'Put before the text in the prompt, and returned with the citation.', maxLength: 500, example: 'Paris guide' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  title?: string;

  @ApiPropertyOptional({ description: 'Returned with the citation.', maxLength: 2_048, example: 'https://example.com/paris' })
  @IsOptional()
  @IsString()
  @MaxLength(2_048)
  url?: string;

  @ApiPropertyOptional({ description: 'Yours; not sent to the model.', type: 'object', additionalProperties: true, example: { lang: 'en' } })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class SynthesisRequestDto {
  @ApiProperty({ maxLength: SYNTHESIS_LIMITS.questionChars, example: 'Where is the Eiffel Tower?' })
  @IsString()
  @IsNotEmpty()
  @Matches(/\S/, { message: 'question must not be blank' })
  @MaxLength(SYNTHESIS_LIMITS.questionChars)
  question: string;

  @ApiPropertyOptional({
    description: `The material to answer from (at most ${SYNTHESIS_LIMITS.sources}, texts totalling at most ${SYNTHESIS_LIMITS.totalTextBytes} bytes). Required unless useSearch is true.`,
    type: [SynthesisSourceDto],
    maxItems: SYNTHESIS_LIMITS.sources,
  })
  // Checked when given, and when it is the only way left to get sources (useSearch not true).
  @ValidateIf((request: SynthesisRequestDto) => request.sources !== undefined || request.useSearch !== true)
  @IsSourcesUnlessSearch()
  @IsArray()
  @ArrayMaxSize(SYNTHESIS_LIMITS.sources)
  @HasUniqueIds()
  @HasTotalTextBytesAtMost(SYNTHESIS_LIMITS.totalTextBytes)
  @ValidateNested({ each: true })
  @Type(() => SynthesisSourceDto)
  sources?: SynthesisSourceDto[];

  @ApiPropertyOptional({ description: 'Retrieve the sources with the search service (the question is the query) instead of giving them.', default: false })
  @IsOptional()
  @IsBoolean()
  @IsNotWithSources()
  useSearch?: boolean;

  @ApiPropertyOptional({ description: 'With useSearch: how many search hits become sources.', minimum: 1, maximum: SYNTHESIS_LIMITS.topK, default: SYNTHESIS_LIMITS.defaultTopK })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SYNTHESIS_LIMITS.topK)
  topK?: number;

  @ApiPropertyOptional({ description: '`upstream/model`, or a model of the default upstream; default: the default upstream and its model.', example: 'openai/gpt-4o-mini', maxLength: 256 })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  model?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: SYNTHESIS_LIMITS.maxTokens, example: 512 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(SYNTHESIS_LIMITS.maxTokens)
  maxTokens?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 2, example: 0 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(2)
  temperature?: number;

  @ApiPropertyOptional({ description: 'Server-sent events: `delta` per token chunk, then `done` (or `error`).', default: false })
  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  @ApiPropertyOptional({ description: '`json` asks the model for `{"answer", "citations"}` and checks it (retried once); not with stream.', enum: FORMATS, default: 'text' })
  @IsOptional()
  @IsIn(FORMATS)
  @IsNotStreamedJson()
  format?: SynthesisFormat;
}
