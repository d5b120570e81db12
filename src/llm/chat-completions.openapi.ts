import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { ApiErrorResponses, UPSTREAM_ERRORS } from '../common/openapi';

/**
 * The OpenAPI description of POST /v1/chat/completions, kept out of the controller so it stays thin.
 * The body is described inline: ChatCompletionRequestDto forwards unknown fields, so it is not the whole schema.
 */
export function ApiChatCompletions(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Create a chat completion (OpenAI wire format)',
      description:
        'Routed to the upstream named in `model` (`upstream/model`; a bare model goes to the default upstream) and translated for ' +
        'Anthropic upstreams. Unknown fields are forwarded. With `stream: true` the answer is OpenAI server-sent events ending in `data: [DONE]`; ' +
        'an error after the stream started arrives as `event: error` with the error envelope.',
    }),
    ApiBody({
      description: "OpenAI's chat completion request.",
      schema: {
        type: 'object',
        required: ['messages'],
        additionalProperties: true,
        properties: {
          model: { type: 'string', maxLength: 256, description: '`upstream/model`, or a model of the default upstream.', example: 'openai/gpt-4o-mini' },
          messages: {
            type: 'array',
            minItems: 1,
            maxItems: 2048,
            items: {
              type: 'object',
              required: ['role', 'content'],
              properties: {
                role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
                content: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }], nullable: true },
              },
            },
          },
          stream: { type: 'boolean', default: false },
          stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
          max_tokens: { type: 'integer', minimum: 1 },
          max_completion_tokens: { type: 'integer', minimum: 1 },
          temperature: { type: 'number', minimum: 0, maximum: 2 },
          top_p: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
      examples: {
        whole: { summary: 'Whole answer', value: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] } },
        stream: {
          summary: 'Streamed, with usage',
          value: { model: 'anthropic/claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'Say hello.' }], stream: true, stream_options: { include_usage: true } },
        },
      },
    }),
    ApiOkResponse({
      description: 'A chat.completion object, or with `stream: true` chat.completion.chunk server-sent events.',
      headers: { 'x-llm-upstream': { description: 'The upstream that answered.', schema: { type: 'string' } } },
      content: {
        'application/json': {
          schema: { type: 'object', additionalProperties: true },
          example: {
            id: 'chatcmpl-123',
            object: 'chat.completion',
            created: 1750000000,
            model: 'gpt-4o-mini',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
          },
        },
        'text/event-stream': {
          schema: { type: 'string' },
          example:
            'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n' +
            'data: [DONE]\n\n',
        },
      },
    }),
    ApiErrorResponses(400, 413, 415, ...UPSTREAM_ERRORS),
  );
}
