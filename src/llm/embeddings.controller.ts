import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CallContext } from '../common/call-context.decorator';
import { ApiErrorResponses, UPSTREAM_ERRORS } from '../common/openapi';
import { EmbeddingsRequestDto } from './dto/embeddings-request.dto';
import { LlmService } from './llm.service';

const EXAMPLE_RESPONSE = {
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: [0.0123, -0.0456, 0.0789] }],
  model: 'text-embedding-3-small',
  usage: { prompt_tokens: 7, total_tokens: 7 },
};

/** OpenAI's embeddings endpoint, routed through LlmService and the pools; the upstream's answer is returned as is. */
@ApiTags('embeddings')
@Controller('v1/embeddings')
export class EmbeddingsController {
  constructor(private readonly llm: LlmService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create embeddings (OpenAI wire format)',
    description: 'Forwards to the upstream named in `model` (`upstream/model`). Anthropic upstreams have no embeddings: 400 UNSUPPORTED.',
  })
  @ApiBody({
    type: EmbeddingsRequestDto,
    examples: {
      one: { summary: 'One text', value: { model: 'openai/text-embedding-3-small', input: 'The Eiffel Tower is in Paris.' } },
      batch: { summary: 'A batch, shortened vectors', value: { input: ['red apples', 'green apples'], dimensions: 256 } },
    },
  })
  @ApiOkResponse({ description: "The upstream's embeddings response, unchanged.", example: EXAMPLE_RESPONSE })
  @ApiErrorResponses(400, ...UPSTREAM_ERRORS)
  create(@Body() request: EmbeddingsRequestDto, @CallContext() call: CallContext) {
    return this.llm.embeddings(request, call);
  }
}
