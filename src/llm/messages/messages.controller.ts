import { Body, Controller, Headers, HttpCode, Post, Res, UseFilters } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CallContext } from '../../common/call-context.decorator';
import { LlmException } from '../../common/llm.exception';
import { SSE_HEADERS, sseResponse } from '../sse-response';
import { AnthropicErrorFilter, anthropicErrorType } from './anthropic-error.filter';
import { CountTokensRequestDto, MessagesRequestDto } from './messages-request.dto';
import { MessagesService } from './messages.service';
import type { AnthropicEvent } from './messages.types';

const EXAMPLE_REQUEST = { model: 'anthropic/claude-sonnet-4-5', max_tokens: 256, system: 'Be brief.', messages: [{ role: 'user', content: 'Where is the Eiffel Tower?' }] };
const EXAMPLE_MESSAGE = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: 'In Paris.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 14, output_tokens: 4 },
};

/** The caller's Anthropic headers worth passing to an Anthropic-wire upstream. */
function anthropicHeaders(version?: string, beta?: string): Record<string, string> {
  return { ...(version ? { 'anthropic-version': version } : {}), ...(beta ? { 'anthropic-beta': beta } : {}) };
}

/** A failure after the stream started, as Anthropic's `error` event; anything but ours is the SSE writer's to log. */
async function* withErrorEvent(events: AsyncIterable<AnthropicEvent>): AsyncGenerator<AnthropicEvent> {
  try {
    yield* events;
  } catch (error) {
    if (!(error instanceof LlmException)) throw error;
    yield { event: 'error', data: { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message } } };
  }
}

/**
 * Anthropic's Messages API (what Claude Code and the Anthropic SDKs speak, with ANTHROPIC_BASE_URL set
 * to this service), routed like chat; errors in Anthropic's shape.
 */
@ApiTags('messages')
@Controller('v1/messages')
@UseFilters(AnthropicErrorFilter)
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a message (Anthropic wire format)',
    description: 'Passed through to an Anthropic-wire upstream, or translated to an OpenAI-compatible one and back. `max_tokens` is required.',
  })
  @ApiBody({ type: MessagesRequestDto, examples: { whole: { summary: 'A message', value: EXAMPLE_REQUEST } } })
  @ApiOkResponse({ description: "Anthropic's message; with `stream: true`, its server-sent events.", example: EXAMPLE_MESSAGE })
  async create(
    @Body() request: MessagesRequestDto,
    @CallContext() call: CallContext,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('anthropic-version') version?: string,
    @Headers('anthropic-beta') beta?: string,
  ) {
    const options = { ...call, headers: anthropicHeaders(version, beta) };
    if (!request.stream) {
      const answer = await this.messages.create(request, options);
      reply.header('x-llm-upstream', answer.upstream);
      return answer.message;
    }
    const stream = await this.messages.stream(request, options);
    reply.headers({ ...SSE_HEADERS, 'x-llm-upstream': stream.upstream });
    return sseResponse(withErrorEvent(stream.events), { named: (event) => event, exchange: call.exchange });
  }

  @Post('count_tokens')
  @HttpCode(200)
  @ApiOperation({ summary: "Count a message's input tokens (Anthropic wire format)", description: "The upstream's count when it has one, else an estimate." })
  @ApiBody({ type: CountTokensRequestDto, examples: { count: { summary: 'Count a prompt', value: { model: EXAMPLE_REQUEST.model, messages: EXAMPLE_REQUEST.messages } } } })
  @ApiOkResponse({ example: { input_tokens: 14 } })
  countTokens(
    @Body() request: CountTokensRequestDto,
    @CallContext() call: CallContext,
    @Headers('anthropic-version') version?: string,
    @Headers('anthropic-beta') beta?: string,
  ) {
    return this.messages.countTokens(request, { ...call, headers: anthropicHeaders(version, beta) });
  }
}
