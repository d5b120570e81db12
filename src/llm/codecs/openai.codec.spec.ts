import type { ChatCompletionRequest } from '../chat.types';
import { OpenAiCodec } from './openai.codec';

const codec = new OpenAiCodec();

describe('OpenAiCodec: the request body sent upstream', () => {
  const request = {
    model: 'sim/gpt-x',
    messages: [
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'ok' },
    ],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} }, strict: true } }],
    tool_choice: 'required',
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } },
    n: 2,
    logprobs: true,
    stream_options: { include_usage: false },
  } as ChatCompletionRequest;

  it('passes every field through, with the routed model, and always asks a stream for usage', () => {
    const { stream_options: _, ...rest } = request;
    expect(codec.encodeChat(request, 'gpt-x', true)).toEqual({
      path: '/chat/completions',
      body: { ...rest, model: 'gpt-x', stream: true, stream_options: { include_usage: true } },
    });
    expect(codec.encodeChat(request, 'gpt-x', false)).toEqual({ path: '/chat/completions', body: { ...rest, model: 'gpt-x', stream: false } });
  });
});
