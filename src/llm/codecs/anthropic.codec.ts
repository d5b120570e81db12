import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import { type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type Usage } from '../chat.types';
import { encodeAnthropicRequest } from './anthropic-request';
import { malformed, parseJson } from './openai.codec';
import type { EncodedCall, ServerSentEvent, StreamDecoder, WireCodec } from './wire-codec';

const ANTHROPIC_VERSION = '2023-06-01';

const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  pause_turn: 'stop',
};

interface AnthropicContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

interface AnthropicMessage {
  id: string;
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: string | null;
  usage?: { input_tokens?: unknown; output_tokens?: unknown };
}

type ChunkDelta = ChatCompletionChunk['choices'][number]['delta'];

/** Translates OpenAI-format chat to Anthropic's Messages API and back, tools, images and streams included. */
export class AnthropicCodec implements WireCodec {
  readonly modelsPath = '/v1/models';

  headers(apiKey: string | undefined): Record<string, string> {
    return { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  }

  encodeChat(request: ChatCompletionRequest, model: string, stream: boolean): EncodedCall {
    return { path: '/v1/messages', body: encodeAnthropicRequest(request, model, stream) };
  }

  decodeChat(body: unknown): ChatCompletion {
    const message = body as AnthropicMessage;
    if (!message || !Array.isArray(message.content)) throw malformed('message');
    const text = message.content.filter((block) => block.type === 'text').map((block) => block.text ?? '');
    const toolCalls = message.content
      .filter((block) => block.type === 'tool_use')
      .map((block) => ({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } }));
    // OpenAI's convention: a turn that only calls tools has null content.
    const content = text.length === 0 && toolCalls.length > 0 ? null : text.join('');
    return {
      id: message.id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: message.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
          finish_reason: FINISH_REASONS[message.stop_reason ?? ''] ?? 'stop',
        },
      ],
      usage: usage(message.usage?.input_tokens, message.usage?.output_tokens),
    };
  }

  streamDecoder(model: string): StreamDecoder {
    let id = '';
    let done = false;
    let inputTokens: unknown;
    // Anthropic numbers every content block; OpenAI numbers only the tool calls.
    const toolIndexByBlock = new Map<number, number>();
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChunkDelta, finish: string | null = null): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    return {
      get done() {
        return done;
      },
      decode(event: ServerSentEvent): ChatCompletionChunk[] {
        const data = parseJson(event.data) as Record<string, any> | undefined;
        if (!data || typeof data.type !== 'string') throw malformed('stream event');
        switch (data.type) {
          case 'message_start':
            id = data.message?.id ?? '';
            model = data.message?.model ?? model;
            inputTokens = data.message?.usage?.input_tokens;
            return [chunk({ role: 'assistant', content: '' })];
          case 'content_block_start': {
            const block = data.content_block as AnthropicContentBlock | undefined;
            if (block?.type !== 'tool_use') return [];
            const index = toolIndexByBlock.size;
            toolIndexByBlock.set(data.index, index);
            return [chunk({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] })];
          }
          case 'content_block_delta':
            if (data.delta?.type === 'text_delta') return [chunk({ content: data.delta.text })];
            if (data.delta?.type === 'input_json_delta' && toolIndexByBlock.has(data.index)) {
              return [chunk({ tool_calls: [{ index: toolIndexByBlock.get(data.index), function: { arguments: data.delta.partial_json ?? '' } }] })];
            }
            return [];
          case 'message_delta': {
            const finish = FINISH_REASONS[data.delta?.stop_reason ?? ''] ?? 'stop';
            const usageChunk: ChatCompletionChunk = { ...chunk({}), choices: [], usage: usage(data.usage?.input_tokens ?? inputTokens, data.usage?.output_tokens) };
            return [chunk({}, finish), usageChunk];
          }
          case 'message_stop':
            done = true;
            return [];
          case 'error':
            throw new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream stream error: ${data.error?.message ?? 'unknown'}`);
          default:
            return []; // ping, content_block_stop
        }
      },
    };
  }

  encodeEmbeddings(): EncodedCall {
    throw new LlmException(LlmErrorCode.UNSUPPORTED, 'Anthropic upstreams have no embeddings endpoint; address an OpenAI-compatible upstream');
  }

  decodeEmbeddings(): never {
    throw new LlmException(LlmErrorCode.UNSUPPORTED, 'Anthropic upstreams have no embeddings endpoint');
  }

}

/**
 * Anthropic's counts under OpenAI's names, as sent: a missing or malformed count is not
 * defaulted here (a 0 would make the call free) but estimated by LlmService (checkedUsage).
 */
function usage(prompt: unknown, completion: unknown): Usage {
  const total = typeof prompt === 'number' && typeof completion === 'number' ? prompt + completion : undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } as Usage;
}
