import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../chat.types';
import { AnthropicCodec } from './anthropic.codec';

const codec = new AnthropicCodec();
const encode = (request: Partial<ChatCompletionRequest>, stream = false) =>
  codec.encodeChat({ messages: [{ role: 'user', content: 'hi' }], ...request } as ChatCompletionRequest, 'claude-x', stream);

function refusal(request: Partial<ChatCompletionRequest>): LlmException {
  try {
    encode(request);
  } catch (error) {
    return error as LlmException;
  }
  throw new Error('expected the request to be refused');
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('AnthropicCodec: the request body sent upstream', () => {
  it('sends a plain chat with the defaults Anthropic requires', () => {
    expect(encode({})).toEqual({
      path: '/v1/messages',
      body: { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4096, stream: false },
    });
  });

  it('joins system and developer turns into `system`, in order', () => {
    const { body } = encode({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Cite sources.' }] },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(body).toEqual({ model: 'claude-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4096, system: 'Be brief.\n\nCite sources.', stream: false });
  });

  it('maps sampling fields: temperature clamped to 1, top_p, top_k, stop as stop_sequences, max_completion_tokens, user', () => {
    const { body } = encode({ temperature: 1.7, top_p: 0.9, top_k: 40, stop: 'END', max_completion_tokens: 64, max_tokens: 10, user: 'u-1' }, true);
    expect(body).toEqual({
      model: 'claude-x',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 64,
      temperature: 1,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      stream: true,
    });
    expect((encode({ temperature: 0.3, stop: ['a', 'b'] }).body as Record<string, unknown>)).toMatchObject({ temperature: 0.3, stop_sequences: ['a', 'b'] });
  });

  it('translates tools and every tool_choice', () => {
    const { body } = encode({ tools: [weatherTool, { type: 'function', function: { name: 'now' } }], tool_choice: 'required' });
    expect(body).toEqual({
      model: 'claude-x',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4096,
      tools: [
        { name: 'get_weather', description: 'Weather for a city', input_schema: weatherTool.function.parameters },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'any' },
      stream: false,
    });
    const choice = (request: Partial<ChatCompletionRequest>) => (encode({ tools: [weatherTool], ...request }).body as { tool_choice?: unknown }).tool_choice;
    expect(choice({ tool_choice: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ tool_choice: 'none' })).toEqual({ type: 'none' });
    expect(choice({ tool_choice: { type: 'function', function: { name: 'get_weather' } } })).toEqual({ type: 'tool', name: 'get_weather' });
    expect(choice({ tool_choice: 'required', parallel_tool_calls: false })).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(choice({ parallel_tool_calls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(choice({ parallel_tool_calls: true })).toBeUndefined();
  });

  it('turns assistant tool_calls into tool_use blocks and tool messages into one user turn of tool_result blocks', () => {
    const { body } = encode({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
        { role: 'user', content: 'And tomorrow?' },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'now', arguments: '' } }] },
      ],
    });
    expect((body as { messages: unknown }).messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'call_3', name: 'now', input: {} }] },
    ]);
  });

  it('sends images as base64 (data URLs) and as URLs (https)', () => {
    const { body } = encode({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'auto' } },
          ],
        },
      ],
    });
    expect((body as { messages: unknown }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('passes fields whose value asks for nothing Anthropic lacks (n 1, logprobs false, penalties 0, text format)', () => {
    const { body } = encode({ n: 1, logprobs: false, presence_penalty: 0, frequency_penalty: 0, response_format: { type: 'text' }, store: false, seed: null });
    expect(body).toEqual({ model: 'claude-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4096, stream: false });
  });

  it.each([
    ['n > 1', { n: 2 }, 'n'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['top_logprobs', { top_logprobs: 3 }, 'top_logprobs'],
    ['a json_schema response_format', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }, 'response_format'],
    ['a json_object response_format', { response_format: { type: 'json_object' } }, 'response_format'],
    ['a seed', { seed: 7 }, 'seed'],
    ['a presence penalty', { presence_penalty: 0.5 }, 'presence_penalty'],
    ['logit_bias', { logit_bias: { '50256': -100 } }, 'logit_bias'],
    ['an unknown field', { reasoning_effort: 'high' }, 'reasoning_effort'],
    ['a message name', { messages: [{ role: 'user', content: 'x', name: 'ann' }] }, 'messages[0].name'],
    ['an audio part', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type'],
    ['an http image URL', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/a.png' } }] }] }, 'messages[0].content[0].image_url.url'],
    ['an image in a system message', { messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/a.png' } }] }, { role: 'user', content: 'x' }] }, 'messages[0].content[0].type'],
    ['tool arguments that are not a JSON object', { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
    ['a strict tool', { tools: [{ ...weatherTool, function: { ...weatherTool.function, strict: true } }] }, 'tools[0].function.strict'],
    ['a non-function tool', { tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ['an unknown tool_choice', { tools: [weatherTool], tool_choice: 'sometimes' }, 'tool_choice'],
  ])('refuses %s with 400 UNSUPPORTED naming the field', (_, request, field) => {
    const error = refusal(request as Partial<ChatCompletionRequest>);
    expect(error).toBeInstanceOf(LlmException);
    expect(error.code).toBe(LlmErrorCode.UNSUPPORTED);
    expect(error.status).toBe(400);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.options.param).toBe(field);
  });
});

describe('AnthropicCodec: the response translated back', () => {
  it('translates a text answer exactly', () => {
    const completion = codec.decodeChat(
      { id: 'msg_1', type: 'message', model: 'claude-x', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 2 } },
    );
    expect(completion).toEqual({
      id: 'msg_1',
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'claude-x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
  });

  it('translates tool_use blocks into tool_calls, with null content when there is no text', () => {
    const completion = codec.decodeChat(
      {
        id: 'msg_2',
        model: 'claude-x',
        content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 9, output_tokens: 4 },
      },
    );
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it.each([
    ['max_tokens', 'length'],
    ['stop_sequence', 'stop'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finish) => {
    const completion = codec.decodeChat({ id: 'm', model: 'c', content: [], stop_reason: stopReason, usage: { input_tokens: 1, output_tokens: 1 } });
    expect(completion.choices[0].finish_reason).toBe(finish);
  });

  it('translates a streamed answer with text and tool-call deltas into OpenAI chunks', () => {
    const decoder = codec.streamDecoder('claude-x');
    const events = [
      { type: 'message_start', message: { id: 'msg_3', model: 'claude-x', usage: { input_tokens: 11, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me check.' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'ping' },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 20 } },
      { type: 'message_stop' },
    ];
    const chunks = events.flatMap((event) => decoder.decode({ data: JSON.stringify(event) }));
    expect(decoder.done).toBe(true);
    const base = { id: 'msg_3', object: 'chat.completion.chunk', created: expect.any(Number), model: 'claude-x' };
    const one = (delta: object, finish: string | null = null): ChatCompletionChunk => ({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] }) as ChatCompletionChunk;
    expect(chunks).toEqual([
      one({ role: 'assistant', content: '' }),
      one({ content: 'Let me check.' }),
      one({ tool_calls: [{ index: 0, id: 'toolu_9', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      one({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      one({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      one({}, 'tool_calls'),
      { ...base, choices: [], usage: { prompt_tokens: 11, completion_tokens: 20, total_tokens: 31 } },
    ]);
  });

  it('turns a stream error event into an upstream error', () => {
    const decoder = codec.streamDecoder('claude-x');
    expect(() => decoder.decode({ data: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }) })).toThrow(
      'upstream stream error: Overloaded',
    );
  });
});
