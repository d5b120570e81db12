import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import { messageText, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type Usage } from '../chat.types';
import { malformed, parseJson } from './openai.codec';
import type { EncodedCall, ServerSentEvent, StreamDecoder, WireCodec } from './wire-codec';

const ANTHROPIC_VERSION = '2023-06-01';
// Anthropic requires max_tokens; OpenAI callers often omit it.
const DEFAULT_MAX_TOKENS = 4096;

const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

interface AnthropicMessage {
  id: string;
  model: string;
  content: { type: string; text?: string }[];
  stop_reason: string | null;
  usage?: { input_tokens?: unknown; output_tokens?: unknown };
}

/** Translates OpenAI-format chat to Anthropic's Messages API and back, streams included. */
export class AnthropicCodec implements WireCodec {
  headers(apiKey: string | undefined): Record<string, string> {
    return { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  }

  encodeChat(request: ChatCompletionRequest, model: string, stream: boolean): EncodedCall {
    const system = request.messages
      .filter((m) => m.role === 'system' || m.role === 'developer')
      .map(messageText)
      .join('\n\n');
    const messages = request.messages
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => ({ role: m.role, content: messageText(m) }));
    const stop = request.stop === undefined ? undefined : Array.isArray(request.stop) ? request.stop : [request.stop];
    const body = {
      model,
      messages,
      max_tokens: request.max_tokens ?? request.max_completion_tokens ?? DEFAULT_MAX_TOKENS,
      ...(system ? { system } : {}),
      // OpenAI allows temperature up to 2, Anthropic up to 1.
      ...(request.temperature !== undefined ? { temperature: Math.min(1, request.temperature) } : {}),
      ...(request.top_p !== undefined ? { top_p: request.top_p } : {}),
      ...(stop ? { stop_sequences: stop } : {}),
      stream,
    };
    return { path: '/v1/messages', body };
  }

  decodeChat(body: unknown): ChatCompletion {
    const message = body as AnthropicMessage;
    if (!message || !Array.isArray(message.content)) throw malformed('message');
    return {
      id: message.id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: message.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: message.content.map((block) => block.text ?? '').join('') },
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
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null = null): ChatCompletionChunk => ({
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
          case 'content_block_delta':
            return data.delta?.type === 'text_delta' ? [chunk({ content: data.delta.text })] : [];
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
            return []; // ping, content_block_start/stop
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
