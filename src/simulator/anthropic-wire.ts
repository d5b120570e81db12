import type { IncomingHttpHeaders } from 'node:http';
import { contentText, type ChatTurn } from './extractive-answer';
import {
  checkModel,
  checkPositiveInteger,
  isRecord,
  patchedUsage,
  type GenerationReply,
  type GenerationRequest,
  type Parsed,
  type WireFormat,
} from './wire-format';

function errorType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function sse(type: string, fields: object = {}): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
}

function parseTurns(system: unknown, messages: unknown): Parsed<ChatTurn[]> {
  if (!Array.isArray(messages) || messages.length === 0) {
    return { ok: false, message: 'messages: a non-empty array is required' };
  }
  const turns: ChatTurn[] = [];
  const systemText = contentText(system);
  if (systemText.length > 0) turns.push({ role: 'system', text: systemText });
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message) || (message.role !== 'user' && message.role !== 'assistant')) {
      return { ok: false, message: `messages.${index}.role: must be 'user' or 'assistant'` };
    }
    turns.push({ role: message.role, text: contentText(message.content) });
  }
  return { ok: true, value: turns };
}

function stopReason(reply: GenerationReply): string {
  if (reply.toolCall) return 'tool_use';
  return reply.answer.truncated ? 'max_tokens' : 'end_turn';
}

export const anthropicWire: WireFormat = {
  name: 'anthropic',
  idPrefix: 'msg_sim_',

  credential(headers: IncomingHttpHeaders): string | undefined {
    const key = headers['x-api-key'];
    return Array.isArray(key) ? key[0] : key;
  },

  errorBody(status: number, message: string): object {
    return { type: 'error', error: { type: errorType(status), message } };
  },

  parseGeneration(body: unknown): Parsed<GenerationRequest> {
    if (!isRecord(body)) return { ok: false, message: 'The request body must be a JSON object' };
    // Unlike OpenAI, the Messages API refuses a request without max_tokens.
    const problem =
      checkModel(body.model) ??
      (body.max_tokens === undefined ? 'max_tokens: Field required' : checkPositiveInteger(body.max_tokens, 'max_tokens'));
    if (problem) return { ok: false, message: problem };
    const turns = parseTurns(body.system, body.messages);
    if (!turns.ok) return turns;
    return {
      ok: true,
      value: {
        model: body.model as string,
        turns: turns.value,
        maxTokens: body.max_tokens as number,
        stream: body.stream === true,
        includeUsage: true,
      },
    };
  },

  completion(reply: GenerationReply): object {
    return {
      id: reply.id,
      type: 'message',
      role: 'assistant',
      model: reply.request.model,
      content: reply.toolCall
        ? [{ type: 'tool_use', id: reply.toolCall.id, name: reply.toolCall.name, input: reply.toolCall.input }]
        : [{ type: 'text', text: reply.answer.text }],
      stop_reason: stopReason(reply),
      stop_sequence: null,
      usage: patchedUsage(reply, { input_tokens: reply.answer.promptTokens, output_tokens: reply.answer.completionTokens }),
    };
  },

  streamHead(reply: GenerationReply): string[] {
    return [
      sse('message_start', {
        message: {
          id: reply.id,
          type: 'message',
          role: 'assistant',
          model: reply.request.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          // The real API reports a provisional output count of 1 here.
          usage: patchedUsage(reply, { input_tokens: reply.answer.promptTokens, output_tokens: 1 }),
        },
      }),
      sse('content_block_start', {
        index: 0,
        content_block: reply.toolCall ? { type: 'tool_use', id: reply.toolCall.id, name: reply.toolCall.name, input: {} } : { type: 'text', text: '' },
      }),
    ];
  },

  streamDelta(reply: GenerationReply, text: string): string {
    const delta = reply.toolCall ? { type: 'input_json_delta', partial_json: text } : { type: 'text_delta', text };
    return sse('content_block_delta', { index: 0, delta });
  },

  streamTail(reply: GenerationReply): string[] {
    return [
      sse('content_block_stop', { index: 0 }),
      sse('message_delta', {
        delta: { stop_reason: stopReason(reply), stop_sequence: null },
        usage: patchedUsage(reply, { output_tokens: reply.answer.completionTokens }),
      }),
      sse('message_stop'),
    ];
  },

  streamError(message: string): string {
    return sse('error', { error: { type: 'overloaded_error', message } });
  },

  modelList(ids: string[]): object {
    return {
      data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' })),
      has_more: false,
      first_id: ids[0] ?? null,
      last_id: ids[ids.length - 1] ?? null,
    };
  },
};
