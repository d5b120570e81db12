import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SynthesisFormat } from '../synthesis-prompt';

export class SynthesisCitationDto {
  @ApiProperty({ example: 'doc-1' })
  id: string;

  @ApiPropertyOptional({ example: 'Paris guide' })
  title?: string;

  @ApiPropertyOptional({ example: 'https://example.com/paris' })
  url?: string;
}

export class SynthesisUsageDto {
  @ApiProperty({ example: 61 })
  promptTokens: number;

  @ApiProperty({ example: 8 })
  completionTokens: number;

  @ApiProperty({ example: 69 })
  totalTokens: number;
}

/** What a synthesis cost and where it ran: the whole answer carries it, and so does the stream's `done` event. */
export class SynthesisSummaryDto {
  @ApiProperty({
    type: [SynthesisCitationDto],
    description: 'The given sources the answer cites, in order of first citation.',
  })
  citations: SynthesisCitationDto[];

  @ApiProperty({ description: 'How many distinct ids the model cited that are not among the sources (left out of citations).', example: 0 })
  droppedCitations: number;

  @ApiProperty({ example: 'gpt-4o-mini' })
  model: string;

  @ApiProperty({ example: 'openai' })
  upstream: string;

  @ApiProperty({ type: SynthesisUsageDto, description: 'Tokens of every model call made for this answer (a JSON retry included).' })
  usage: SynthesisUsageDto;

  @ApiProperty({ description: 'Priced from usage (LLM_PRICES); 0 for a model without a price.', example: 0.0000139 })
  costUsd: number;

  @ApiProperty({ description: 'From the request to the end of the answer, retrieval included.', example: 412 })
  latencyMs: number;
}

export class SynthesisResponseDto extends SynthesisSummaryDto {
  @ApiProperty({ example: 'The Eiffel Tower is in Paris. [doc-1]' })
  answer: string;

  @ApiProperty({ enum: ['text', 'json'], example: 'text' })
  format: SynthesisFormat;
}

/** `event: delta` of a streamed synthesis. */
export class SynthesisDeltaDto {
  @ApiProperty({ example: ' Tower' })
  text: string;
}

export const SYNTHESIS_RESPONSE_EXAMPLE: SynthesisResponseDto = {
  answer: 'The Eiffel Tower is in Paris. [doc-1]',
  citations: [{ id: 'doc-1', title: 'Paris guide', url: 'https://example.com/paris' }],
  droppedCitations: 0,
  model: 'gpt-4o-mini',
  upstream: 'openai',
  usage: { promptTokens: 61, completionTokens: 8, totalTokens: 69 },
  costUsd: 0.0000139,
  latencyMs: 412,
  format: 'text',
};
