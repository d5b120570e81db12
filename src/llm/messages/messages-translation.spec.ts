import { LlmErrorCode, type LlmException } from '../../common/llm.exception';
import type { ChatCompletionChunk } from '../chat.types';
import { ChunkTranslator, chatToMessage } from './chat-to-messages';
import { messagesToChat } from './messages-to-chat';
import type { MessagesRequest } from './messages.types';

describe('Anthropic Messages inbound → OpenAI chat', () => {
  it('turns tool_use and tool_result turns into tool_calls and tool messages, in the order OpenAI requires', () => {
    const request: MessagesRequest = {
      model: 'sim/x',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'w', input: { city: 'Rome' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'rain' }], is_error: true }, { type: 'text', text: 'Thanks' }] },
      ],
    };
    expect(messagesToChat(request, true).messages).toEqual([
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'w', arguments: '{"city":"Rome"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: rain' },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it.each([
    ['thinking', { thinking: { type: 'enabled', budget_tokens: 1000 } }, 'thinking'],
    ['a server tool', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'tools[0].type'],
    ['a document block', { messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, 'messages[0].content[0].type'],
    ['metadata beyond user_id', { metadata: { user_id: 'u', tier: 'x' } }, 'metadata.tier'],
  ])('refuses %s with 400 UNSUPPORTED naming the field', (_, extra, field) => {
    const request = { model: 'sim/x', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], ...extra } as MessagesRequest;
    let error: LlmException | undefined;
    try {
      messagesToChat(request, false);
    } catch (e) {
      error = e as LlmException;
    }
    expect(error?.code).toBe(LlmErrorCode.UNSUPPORTED);
    expect(error?.options.param).toBe(field);
  });
});

describe('OpenAI chat → Anthropic Messages outbound', () => {
  it('translates a completion with text and a tool call exactly', () => {
    const message = chatToMessage(
      {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'x',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Let me see.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{"city":"Rome"}' } }] }, finish_reason: 'tool_calls' }],
        usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
      },
      'sim/x',
    );
    expect(message).toEqual({
      id: 'chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'sim/x',
      content: [{ type: 'text', text: 'Let me see.' }, { type: 'tool_use', id: 'call_1', name: 'w', input: { city: 'Rome' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 3 },
    });
  });

  it('translates a chunk stream into the exact Anthropic event sequence', () => {
    const translator = new ChunkTranslator('sim/x');
    const chunk = (delta: object, finish: string | null = null, usage?: object): ChatCompletionChunk =>
      ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'x', choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) }) as ChatCompletionChunk;
    const events = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hi' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'w', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }),
      chunk({}, 'tool_calls'),
      chunk({}, null, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }),
    ].flatMap((c) => translator.translate(c));
    events.push(...translator.end());
    expect(events.map((e) => e.data)).toEqual([
      { type: 'message_start', message: { id: 'c1', type: 'message', role: 'assistant', model: 'sim/x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } } },
      { type: 'ping' },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'w', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":1}' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 5, output_tokens: 2 } },
      { type: 'message_stop' },
    ]);
    expect(events.every((e) => e.event === e.data.type)).toBe(true);
  });
});
