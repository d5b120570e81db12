import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CallContext } from '../common/call-context.decorator';
import { ApiChatCompletions } from './chat-completions.openapi';
import type { ChatCompletionChunk } from './chat.types';
import { ChatCompletionRequestDto } from './dto/chat-completion-request.dto';
import { LlmService } from './llm.service';
import { SSE_HEADERS, sseResponse } from './sse-response';

/** OpenAI's chat completions endpoint, routed through LlmService and the pools. */
@ApiTags('chat')
@Controller('v1/chat/completions')
export class ChatCompletionsController {
  constructor(private readonly llm: LlmService) {}

  @Post()
  @HttpCode(200)
  @ApiChatCompletions()
  async create(
    @Body() request: ChatCompletionRequestDto,
    @CallContext() call: CallContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!request.stream) {
      const result = await this.llm.chat(request, call);
      reply.header('x-llm-upstream', result.upstream);
      return result.completion;
    }
    const stream = await this.llm.chatStream(request, call);
    const wantsUsage = request.stream_options?.include_usage === true;
    // Usage is always requested upstream (to count it); a caller that did not ask gets no usage-only chunk.
    async function* forwarded(): AsyncGenerator<ChatCompletionChunk> {
      for await (const chunk of stream.chunks) {
        if (chunk.choices.length === 0 && !wantsUsage) continue;
        yield wantsUsage || !chunk.usage ? chunk : { ...chunk, usage: undefined };
      }
    }
    reply.headers({ ...SSE_HEADERS, 'x-llm-upstream': stream.upstream });
    return sseResponse(forwarded(), { done: '[DONE]', exchange: call.exchange });
  }
}
