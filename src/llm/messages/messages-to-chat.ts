import { unsupported } from '../codecs/anthropic-request';
import type { ChatCompletionRequest, ChatMessage, ContentPart } from '../chat.types';
import type { MessagesRequest } from './messages.types';

/**
 * Anthropic Messages request → OpenAI chat request, for an OpenAI-compatible upstream. What has no
 * OpenAI equivalent is refused by name (400 UNSUPPORTED), never dropped.
 */
const TRANSLATED = new Set(['model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream', 'tools', 'tool_choice', 'metadata']);

/** Fields whose value here asks for nothing an OpenAI-compatible upstream lacks. */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  thinking: (value) => (value as { type?: unknown })?.type === 'disabled',
};

// Prompt-caching marks and citations settings are hints to Anthropic's own servers; without them the answer is the same.
const IGNORED_BLOCK_FIELDS = new Set(['cache_control', 'citations']);

type Block = Record<string, unknown> & { type?: unknown };

export function messagesToChat(request: MessagesRequest, stream: boolean): ChatCompletionRequest {
  for (const [field, value] of Object.entries(request)) {
    if (value === undefined || value === null || TRANSLATED.has(field) || NEUTRAL[field]?.(value)) continue;
    throw unsupported(field, 'has no equivalent on an OpenAI-compatible upstream; address an Anthropic-wire upstream or leave it out');
  }
  const messages: ChatMessage[] = [];
  const system = systemText(request.system);
  if (system) messages.push({ role: 'system', content: system });
  request.messages.forEach((message, i) => {
    if (message.role === 'assistant') messages.push(assistantMessage(message.content, i));
    else messages.push(...userMessages(message.content, i));
  });
  const metadata = request.metadata as { user_id?: unknown } | undefined;
  for (const key of Object.keys(metadata ?? {})) {
    if (key !== 'user_id') throw unsupported(`metadata.${key}`, 'only metadata.user_id can be sent to an OpenAI-compatible upstream');
  }
  const choice = toolChoice(request.tool_choice);
  return {
    model: request.model,
    messages,
    max_tokens: request.max_tokens,
    ...(typeof request.temperature === 'number' ? { temperature: request.temperature } : {}),
    ...(typeof request.top_p === 'number' ? { top_p: request.top_p } : {}),
    // Not OpenAI's, but vLLM and most OpenAI-compatible servers take it; one that does not says so itself.
    ...(typeof request.top_k === 'number' ? { top_k: request.top_k } : {}),
    ...(Array.isArray(request.stop_sequences) ? { stop: request.stop_sequences } : {}),
    ...(Array.isArray(request.tools) ? { tools: request.tools.map(tool) } : {}),
    ...choice,
    ...(typeof metadata?.user_id === 'string' ? { user: metadata.user_id } : {}),
    stream,
  };
}

export function systemText(system: unknown): string {
  if (system === undefined || system === null) return '';
  if (typeof system === 'string') return system;
  return (system as Block[])
    .map((block, j) => {
      if (block.type !== 'text') throw unsupported(`system[${j}].type`, 'only text blocks can be sent as a system prompt');
      refuseBlockFields(block, `system[${j}]`, ['type', 'text']);
      return String(block.text ?? '');
    })
    .join('\n\n');
}

function refuseBlockFields(block: Block, field: string, known: string[]): void {
  for (const [key, value] of Object.entries(block)) {
    if (value === undefined || value === null || known.includes(key) || IGNORED_BLOCK_FIELDS.has(key)) continue;
    throw unsupported(`${field}.${key}`, 'has no equivalent on an OpenAI-compatible upstream');
  }
}

/** A user turn: its tool results become `tool` messages (which must follow the assistant's calls), the rest one user message. */
function userMessages(content: string | Block[], i: number): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const results: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  content.forEach((block, j) => {
    const field = `messages[${i}].content[${j}]`;
    if (block.type === 'tool_result') {
      refuseBlockFields(block, field, ['type', 'tool_use_id', 'content', 'is_error']);
      const text = toolResultText(block.content, field);
      // OpenAI's tool message has no error flag: say it in the content, where the model reads it.
      results.push({ role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text });
    } else parts.push(contentPart(block, field));
  });
  const onlyText = parts.length === 1 && parts[0].type === 'text';
  if (parts.length > 0) results.push({ role: 'user', content: onlyText ? String(parts[0].text) : parts });
  return results;
}

function toolResultText(content: unknown, field: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return (content as Block[])
    .map((block, k) => {
      if (block.type !== 'text') throw unsupported(`${field}.content[${k}].type`, 'an OpenAI tool message carries only text');
      return String(block.text ?? '');
    })
    .join('');
}

function contentPart(block: Block, field: string): ContentPart {
  if (block.type === 'text') {
    refuseBlockFields(block, field, ['type', 'text']);
    return { type: 'text', text: String(block.text ?? '') };
  }
  if (block.type === 'image') {
    refuseBlockFields(block, field, ['type', 'source']);
    const source = (block.source ?? {}) as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown };
    if (source.type === 'base64') return { type: 'image_url', image_url: { url: `data:${String(source.media_type)};base64,${String(source.data)}` } };
    if (source.type === 'url') return { type: 'image_url', image_url: { url: String(source.url) } };
    throw unsupported(`${field}.source.type`, 'an image must be base64 or a URL for an OpenAI-compatible upstream');
  }
  throw unsupported(`${field}.type`, `"${String(block.type)}" blocks cannot be sent to an OpenAI-compatible upstream (text, image, tool_use and tool_result can)`);
}

function assistantMessage(content: string | Block[], i: number): ChatMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text = '';
  const calls: unknown[] = [];
  content.forEach((block, j) => {
    const field = `messages[${i}].content[${j}]`;
    if (block.type === 'text') {
      refuseBlockFields(block, field, ['type', 'text']);
      text += String(block.text ?? '');
    } else if (block.type === 'tool_use') {
      refuseBlockFields(block, field, ['type', 'id', 'name', 'input']);
      calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    } else throw unsupported(`${field}.type`, `"${String(block.type)}" blocks cannot be sent to an OpenAI-compatible upstream`);
  });
  return { role: 'assistant', content: text === '' && calls.length > 0 ? null : text, ...(calls.length > 0 ? { tool_calls: calls } : {}) };
}

function tool(definition: unknown, i: number): unknown {
  const { type, name, description, input_schema: schema, ...rest } = (definition ?? {}) as Record<string, unknown>;
  // Anthropic's server tools (web search, code execution, ...) carry a type; a custom tool has none or "custom".
  if (type !== undefined && type !== 'custom') throw unsupported(`tools[${i}].type`, `Anthropic's server tool "${String(type)}" runs only on Anthropic`);
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined && value !== null && !IGNORED_BLOCK_FIELDS.has(key)) throw unsupported(`tools[${i}].${key}`, 'has no equivalent on an OpenAI-compatible upstream');
  }
  return { type: 'function', function: { name, ...(typeof description === 'string' ? { description } : {}), parameters: schema } };
}

function toolChoice(choice: unknown): Partial<ChatCompletionRequest> {
  if (choice === undefined || choice === null) return {};
  const { type, name, disable_parallel_tool_use: serial } = choice as { type?: unknown; name?: unknown; disable_parallel_tool_use?: unknown };
  const parallel = serial === true ? { parallel_tool_calls: false } : {};
  switch (type) {
    case 'auto':
      return { tool_choice: 'auto', ...parallel };
    case 'any':
      return { tool_choice: 'required', ...parallel };
    case 'none':
      return { tool_choice: 'none' };
    case 'tool':
      return { tool_choice: { type: 'function', function: { name } }, ...parallel };
    default:
      throw unsupported('tool_choice.type', 'must be auto, any, tool or none');
  }
}
