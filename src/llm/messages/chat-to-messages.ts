import { parseJson } from '../codecs/openai.codec';
import type { ChatCompletion, ChatCompletionChunk, Usage } from '../chat.types';
import type { AnthropicContentBlock, AnthropicEvent, AnthropicMessage } from './messages.types';

/** OpenAI's finish_reason in Anthropic's words. */
const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

const stopReason = (finish: string | null | undefined) => STOP_REASONS[finish ?? ''] ?? 'end_turn';

interface ToolCall {
  id?: string;
  function?: { name?: string; arguments?: string };
}

/** A tool call's arguments as Anthropic's `input` object; arguments that are not a JSON object travel as `{}`-wrapped text. */
function toolInput(args: string | undefined): unknown {
  const parsed = parseJson(args && args.trim() ? args : '{}');
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : { arguments: args ?? '' };
}

/** A whole OpenAI completion as an Anthropic message, addressed as the caller addressed the model. */
export function chatToMessage(completion: ChatCompletion, model: string): AnthropicMessage {
  const choice = completion.choices[0];
  const content: AnthropicContentBlock[] = [];
  const text = choice?.message?.content;
  if (typeof text === 'string' && text !== '') content.push({ type: 'text', text });
  for (const call of (choice?.message?.tool_calls as ToolCall[] | undefined) ?? []) {
    content.push({ type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: toolInput(call.function?.arguments) });
  }
  return {
    id: completion.id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: { input_tokens: completion.usage?.prompt_tokens ?? 0, output_tokens: completion.usage?.completion_tokens ?? 0 },
  };
}

/**
 * Turns one OpenAI chunk stream into Anthropic's events: message_start and a ping first, a content block per
 * text run and per tool call (text_delta / input_json_delta), then message_delta (stop reason, usage) and
 * message_stop once the chunks have ended. Stateful: one per stream.
 */
export class ChunkTranslator {
  private started = false;
  private block = -1;
  private open: 'text' | 'tool' | undefined;
  private readonly blockByTool = new Map<number, number>();
  private finish: string | null = null;
  private usage: Usage | undefined;

  constructor(private readonly model: string) {}

  translate(chunk: ChatCompletionChunk): AnthropicEvent[] {
    const events: AnthropicEvent[] = [];
    if (!this.started) {
      this.started = true;
      events.push(event('message_start', {
        message: { id: chunk.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
      }));
      events.push(event('ping', {}));
    }
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return events;
    const delta = choice.delta ?? {};
    if (typeof delta.content === 'string' && delta.content !== '') {
      if (this.open !== 'text') events.push(...this.startBlock('text', { type: 'text', text: '' }));
      events.push(event('content_block_delta', { index: this.block, delta: { type: 'text_delta', text: delta.content } }));
    }
    for (const call of (delta.tool_calls as (ToolCall & { index?: number })[] | undefined) ?? []) {
      const index = call.index ?? 0;
      if (!this.blockByTool.has(index)) {
        events.push(...this.startBlock('tool', { type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: {} }));
        this.blockByTool.set(index, this.block);
      }
      const fragment = call.function?.arguments;
      if (fragment) events.push(event('content_block_delta', { index: this.blockByTool.get(index), delta: { type: 'input_json_delta', partial_json: fragment } }));
    }
    if (choice.finish_reason) this.finish = choice.finish_reason;
    return events;
  }

  /** The closing events, once the upstream's chunks have ended. */
  end(): AnthropicEvent[] {
    const events: AnthropicEvent[] = this.open ? [event('content_block_stop', { index: this.block })] : [];
    this.open = undefined;
    events.push(event('message_delta', {
      delta: { stop_reason: stopReason(this.finish), stop_sequence: null },
      usage: { input_tokens: this.usage?.prompt_tokens ?? 0, output_tokens: this.usage?.completion_tokens ?? 0 },
    }));
    events.push(event('message_stop', {}));
    return events;
  }

  private startBlock(kind: 'text' | 'tool', block: Record<string, unknown>): AnthropicEvent[] {
    const events: AnthropicEvent[] = this.open ? [event('content_block_stop', { index: this.block })] : [];
    this.block++;
    this.open = kind;
    events.push(event('content_block_start', { index: this.block, content_block: block }));
    return events;
  }
}

function event(type: string, fields: Record<string, unknown>): AnthropicEvent {
  return { event: type, data: { type, ...fields } };
}
