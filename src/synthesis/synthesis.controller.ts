import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CallContext } from '../common/call-context.decorator';
import { ApiErrorResponses, UPSTREAM_ERRORS } from '../common/openapi';
import { SSE_HEADERS, sseResponse } from '../llm/sse-response';
import { SynthesisRequestDto } from './dto/synthesis-request.dto';
import { SYNTHESIS_RESPONSE_EXAMPLE, SynthesisDeltaDto, SynthesisResponseDto, SynthesisSummaryDto } from './dto/synthesis-response.dto';
import { SynthesisService } from './synthesis.service';

// The done event is the whole response without the answer (it came as deltas) and the format (always text).
const { answer: _answer, format: _format, ...DONE_EXAMPLE } = SYNTHESIS_RESPONSE_EXAMPLE;
const STREAM_EXAMPLE = [
  'event: delta\ndata: {"text":"The"}',
  'event: delta\ndata: {"text":" Eiffel"}',
  'event: delta\ndata: {"text":" Tower is in Paris. [doc-1]"}',
  `event: done\ndata: ${JSON.stringify(DONE_EXAMPLE)}`,
].join('\n\n');

@ApiTags('synthesis')
@ApiExtraModels(SynthesisResponseDto, SynthesisSummaryDto, SynthesisDeltaDto)
@Controller('v1/synthesis')
export class SynthesisController {
  constructor(private readonly synthesis: SynthesisService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Answer a question from sources, with citations',
    description:
      'The model answers only from the sources (given, or retrieved with `useSearch`) and cites them as `[id]`; ' +
      'citations of ids that are not among the sources are dropped and counted. With `stream: true` the answer ' +
      'arrives as server-sent events: `delta` per token chunk, then `done` (or `error` with the error envelope).',
  })
  @ApiBody({
    type: SynthesisRequestDto,
    examples: {
      sources: {
        summary: 'Given sources',
        value: {
          question: 'Where is the Eiffel Tower?',
          sources: [
            { id: 'doc-1', title: 'Paris guide', text: 'The Eiffel Tower is in Paris.', url: 'https://example.com/paris' },
            { id: 'doc-2', text: 'Bananas are yellow.' },
          ],
        },
      },
      search: { summary: 'Retrieved sources', value: { question: 'Where is the Eiffel Tower?', useSearch: true, topK: 5 } },
      json: { summary: 'Structured answer', value: { question: 'Where is the Eiffel Tower?', format: 'json', sources: [{ id: 'doc-1', text: 'The Eiffel Tower is in Paris.' }] } },
      stream: { summary: 'Streamed', value: { question: 'Where is the Eiffel Tower?', stream: true, sources: [{ id: 'doc-1', text: 'The Eiffel Tower is in Paris.' }] } },
    },
  })
  @ApiOkResponse({
    description: 'The answer (JSON), or with `stream: true` server-sent events whose `done` event carries everything but the answer.',
    content: {
      'application/json': { schema: { $ref: getSchemaPath(SynthesisResponseDto) }, example: SYNTHESIS_RESPONSE_EXAMPLE },
      'text/event-stream': { schema: { type: 'string' }, example: STREAM_EXAMPLE },
    },
  })
  @ApiErrorResponses(400, ...UPSTREAM_ERRORS)
  async synthesize(
    @Body() request: SynthesisRequestDto,
    @CallContext() call: CallContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!request.stream) return this.synthesis.answer(request, call);
    const stream = await this.synthesis.stream(request, call);
    reply.headers({ ...SSE_HEADERS, 'x-llm-upstream': stream.upstream });
    return sseResponse(stream.events, { named: (item) => item, exchange: call.exchange });
  }
}
