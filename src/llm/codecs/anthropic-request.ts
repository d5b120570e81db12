import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import type { ChatCompletionRequest, ChatMessage, ContentPart } from '../chat.types';

// Anthropic requires max_tokens; OpenAI callers often omit it.
export const DEFAULT_MAX_TOKENS = 4096;

/** One block of an Anthropic message's content. */
export type AnthropicBlock = Record<string, unknown> & { type: string };

export interface AnthropicTurn {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

/**
 * Request fields translated (or, for `stream_options`, applied by the service itself). Anything else
 * the caller sent with a value that changes the answer is refused by name, never silently dropped.
 */
const TRANSLATED = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'stop', 'stream', 'stream_options',
  'tools', 'tool_choice', 'parallel_tool_calls', 'user',
]);

/** Fields whose value here asks for nothing beyond Anthropic's behaviour, so omitting them loses nothing. */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  n: (value) => value === 1,
  logprobs: (value) => value === false,
  presence_penalty: (value) => value === 0,
  frequency_penalty: (value) => value === 0,
  store: (value) => value === false,
  response_format: (value) => (value as { type?: unknown })?.type === 'text',
};

const MESSAGE_FIELDS = new Set(['role', 'content', 'tool_calls', 'tool_call_id']);

/** What the caller asked for that Anthropic's Messages API cannot do: a 400 naming the field. */
export function unsupported(field: string, why: string): LlmException {
  return new LlmException(LlmErrorCode.UNSUPPORTED, `${field}: ${why}`, { param: field, details: { field } });
}

/** OpenAI chat → Anthropic Messages request body. Throws UNSUPPORTED for what has no translation. */
export function encodeAnthropicRequest(request: ChatCompletionRequest, model: string, stream: boolean): Record<string, unknown> {
  refuseUntranslatable(request);
  const system: string[] = [];
  const messages: AnthropicTurn[] = [];
  request.messages.forEach((message, i) => {
    refuseUnknownMessageFields(message, i);
    switch (message.role) {
      case 'system':
      case 'developer':
        // Anthropic has one top-level system prompt; every system turn joins it, in order.
        system.push(systemText(message, i));
        return;
      case 'user':
        return pushUser(messages, userContent(message, i));
      case 'assistant':
        messages.push({ role: 'assistant', content: assistantContent(message, i) });
        return;
      case 'tool':
        // Tool results go back in a user turn; consecutive results (and a user turn after them) share it.
        return pushUser(messages, [toolResult(message, i)]);
    }
  });
  const stop = request.stop === undefined || request.stop === null ? undefined : Array.isArray(request.stop) ? request.stop : [request.stop];
  const toolChoice = encodeToolChoice(request);
  const user = request.user;
  return {
    model,
    messages,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    // OpenAI allows temperature up to 2, Anthropic up to 1.
    ...(typeof request.temperature === 'number' ? { temperature: Math.min(1, request.temperature) } : {}),
    ...(typeof request.top_p === 'number' ? { top_p: request.top_p } : {}),
    ...(typeof request.top_k === 'number' ? { top_k: request.top_k } : {}),
    ...(stop ? { stop_sequences: stop } : {}),
    ...(Array.isArray(request.tools) ? { tools: request.tools.map(encodeTool) } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    ...(typeof user === 'string' ? { metadata: { user_id: user } } : {}),
    stream,
  };
}

function refuseUntranslatable(request: ChatCompletionRequest): void {
  for (const [field, value] of Object.entries(request)) {
    if (value === undefined || value === null || TRANSLATED.has(field)) continue;
    const neutral = NEUTRAL[field];
    if (neutral?.(value)) continue;
    throw unsupported(field, `has no equivalent in Anthropic's Messages API; address an OpenAI-compatible upstream or leave it out`);
  }
}

function refuseUnknownMessageFields(message: ChatMessage, i: number): void {
  for (const [field, value] of Object.entries(message)) {
    if (value === undefined || value === null || MESSAGE_FIELDS.has(field)) continue;
    throw unsupported(`messages[${i}].${field}`, `has no equivalent in Anthropic's Messages API`);
  }
}

function systemText(message: ChatMessage, i: number): string {
  if (typeof message.content === 'string') return message.content;
  return (message.content ?? [])
    .map((part, j) => {
      if (part.type !== 'text') throw unsupported(`messages[${i}].content[${j}].type`, `a system message can carry only text to Anthropic, not "${part.type}"`);
      return String(part.text ?? '');
    })
    .join('');
}

function pushUser(messages: AnthropicTurn[], content: string | AnthropicBlock[]): void {
  const last = messages[messages.length - 1];
  const lastHoldsResults = last?.role === 'user' && Array.isArray(last.content) && last.content.some((block) => block.type === 'tool_result');
  if (!lastHoldsResults) {
    messages.push({ role: 'user', content });
    return;
  }
  (last.content as AnthropicBlock[]).push(...(typeof content === 'string' ? [{ type: 'text', text: content }] : content));
}

function userContent(message: ChatMessage, i: number): string | AnthropicBlock[] {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) throw unsupported(`messages[${i}].content`, 'a user message needs content');
  return message.content.map((part, j) => contentBlock(part, `messages[${i}].content[${j}]`));
}

/** A text or image part; images as a data URL (base64) or an https URL. */
function contentBlock(part: ContentPart, field: string): AnthropicBlock {
  if (part.type === 'text') return { type: 'text', text: String(part.text ?? '') };
  if (part.type !== 'image_url') throw unsupported(`${field}.type`, `"${part.type}" parts cannot be sent to Anthropic (text and image_url can)`);
  const image = part.image_url as { url?: unknown } | undefined;
  const url = typeof image?.url === 'string' ? image.url : '';
  const data = /^data:(image\/(?:png|jpeg|gif|webp));base64,(.+)$/s.exec(url);
  if (data) return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
  if (/^https:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw unsupported(`${field}.image_url.url`, 'must be an https URL or a base64 data URL of a png, jpeg, gif or webp image');
}

function assistantContent(message: ChatMessage, i: number): string | AnthropicBlock[] {
  const calls = message.tool_calls;
  const text = message.content;
  if (calls === undefined || calls === null) {
    if (typeof text === 'string') return text;
    return (text ?? []).map((part, j) => {
      if (part.type !== 'text') throw unsupported(`messages[${i}].content[${j}].type`, `an assistant message can carry only text to Anthropic, not "${part.type}"`);
      return { type: 'text', text: String(part.text ?? '') };
    });
  }
  if (!Array.isArray(calls)) throw unsupported(`messages[${i}].tool_calls`, 'must be an array');
  const blocks: AnthropicBlock[] = typeof text === 'string' ? (text ? [{ type: 'text', text }] : []) : (text ?? []).map((part) => ({ type: 'text', text: String(part.text ?? '') }));
  // Anthropic refuses an empty text block; an assistant turn that only calls tools has none.
  return [...blocks.filter((block) => block.text !== ''), ...calls.map((call, j) => toolUse(call, `messages[${i}].tool_calls[${j}]`))];
}

function toolUse(call: unknown, field: string): AnthropicBlock {
  const { id, type, function: fn } = (call ?? {}) as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
  if (type !== 'function') throw unsupported(`${field}.type`, 'only function tool calls can be sent to Anthropic');
  let input: unknown;
  try {
    input = JSON.parse(typeof fn?.arguments === 'string' && fn.arguments !== '' ? fn.arguments : '{}');
  } catch {
    throw unsupported(`${field}.function.arguments`, 'must be a JSON object (Anthropic takes tool input as an object)');
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw unsupported(`${field}.function.arguments`, 'must be a JSON object (Anthropic takes tool input as an object)');
  }
  return { type: 'tool_use', id, name: fn?.name, input };
}

function toolResult(message: ChatMessage, i: number): AnthropicBlock {
  const content = typeof message.content === 'string' ? message.content : (message.content ?? []).map((part, j) => contentBlock(part, `messages[${i}].content[${j}]`));
  return { type: 'tool_result', tool_use_id: message.tool_call_id, content };
}

function encodeTool(tool: unknown, i: number): Record<string, unknown> {
  const { type, function: fn } = (tool ?? {}) as { type?: unknown; function?: Record<string, unknown> };
  if (type !== 'function' || !fn) throw unsupported(`tools[${i}].type`, 'only function tools can be sent to Anthropic');
  if (fn.strict === true) throw unsupported(`tools[${i}].function.strict`, "Anthropic's Messages API has no strict schema mode; leave it out or set it to false");
  return {
    name: fn.name,
    ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
    // A function without parameters takes none; Anthropic requires the schema all the same.
    input_schema: fn.parameters ?? { type: 'object', properties: {} },
  };
}

function encodeToolChoice(request: ChatCompletionRequest): Record<string, unknown> | undefined {
  const choice = request.tool_choice as string | { type?: unknown; function?: { name?: unknown } } | undefined | null;
  // OpenAI's parallel_tool_calls: false is Anthropic's disable_parallel_tool_use on the choice.
  const serial = request.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null) return request.parallel_tool_calls === false ? { type: 'auto', ...serial } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...serial };
  if (choice === 'required') return { type: 'any', ...serial };
  if (typeof choice === 'object' && choice.type === 'function' && typeof choice.function?.name === 'string') {
    return { type: 'tool', name: choice.function.name, ...serial };
  }
  throw unsupported('tool_choice', 'must be "none", "auto", "required" or {"type":"function","function":{"name":...}}');
}
