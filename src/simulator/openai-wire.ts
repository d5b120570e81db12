import type { IncomingHttpHeaders } from 'node:http';
import { contentText, countWords, type ChatTurn } from './extractive-answer';
import { MAX_EMBEDDING_DIMENSIONS, embedText } from './hashed-embedding';
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

function errorKind(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 413) return { type: 'invalid_request_error', code: 'request_too_large' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

function toolCall(call: NonNullable<GenerationReply['toolCall']>, args: string): object {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: args } };
}

function sse(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function parseTurns(messages: unknown): Parsed<ChatTurn[]> {
  if (!Array.isArray(messages) || messages.length === 0) {
    return { ok: false, message: 'messages: a non-empty array is required' };
  }
  const turns: ChatTurn[] = [];
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message) || typeof message.role !== 'string') {
      return { ok: false, message: `messages[${index}]: an object with a string role is required` };
    }
    // 'developer' is the newer name of 'system' in the OpenAI API.
    const role = message.role === 'developer' ? 'system' : message.role;
    turns.push({ role, text: contentText(message.content) });
  }
  return { ok: true, value: turns };
}

function chunk(reply: GenerationReply, delta: object, finishReason: string | null): object {
  return {
    id: reply.id,
    object: 'chat.completion.chunk',
    created: reply.created,
    model: reply.request.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // Like the real API: with include_usage every chunk carries usage, null until the last.
    ...(reply.request.includeUsage ? { usage: null } : {}),
  };
}

function usage(reply: GenerationReply): object {
  const { promptTokens, completionTokens } = reply.answer;
  return patchedUsage(reply, { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens });
}

function finishReason(reply: GenerationReply): string {
  if (reply.toolCall) return 'tool_calls';
  return reply.answer.truncated ? 'length' : 'stop';
}

export const openAiWire: WireFormat = {
  name: 'openai',
  idPrefix: 'chatcmpl-sim-',

  credential(headers: IncomingHttpHeaders): string | undefined {
    const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
    return match?.[1].trim();
  },

  errorBody(status: number, message: string): object {
    return { error: { message, ...errorKind(status), param: null } };
  },

  parseGeneration(body: unknown): Parsed<GenerationRequest> {
    if (!isRecord(body)) return { ok: false, message: 'The request body must be a JSON object' };
    const problem =
      checkModel(body.model) ??
      checkPositiveInteger(body.max_tokens, 'max_tokens') ??
      checkPositiveInteger(body.max_completion_tokens, 'max_completion_tokens');
    if (problem) return { ok: false, message: problem };
    const turns = parseTurns(body.messages);
    if (!turns.ok) return turns;
    const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
    return {
      ok: true,
      value: {
        model: body.model as string,
        turns: turns.value,
        // max_completion_tokens replaced max_tokens; when both are sent the newer one wins.
        maxTokens: (body.max_completion_tokens ?? body.max_tokens ?? undefined) as number | undefined,
        stream: body.stream === true,
        includeUsage: streamOptions.include_usage === true,
      },
    };
  },

  completion(reply: GenerationReply): object {
    return {
      id: reply.id,
      object: 'chat.completion',
      created: reply.created,
      model: reply.request.model,
      choices: [
        {
          index: 0,
          message: reply.toolCall
            ? { role: 'assistant', content: null, refusal: null, tool_calls: [toolCall(reply.toolCall, reply.answer.text)] }
            : { role: 'assistant', content: reply.answer.text, refusal: null },
          logprobs: null,
          finish_reason: finishReason(reply),
        },
      ],
      usage: usage(reply),
    };
  },

  streamHead(reply: GenerationReply): string[] {
    if (reply.toolCall) return [sse(chunk(reply, { role: 'assistant', content: null, tool_calls: [{ index: 0, ...toolCall(reply.toolCall, '') }] }, null))];
    return [sse(chunk(reply, { role: 'assistant', content: '' }, null))];
  },

  streamDelta(reply: GenerationReply, text: string): string {
    if (reply.toolCall) return sse(chunk(reply, { tool_calls: [{ index: 0, function: { arguments: text } }] }, null));
    return sse(chunk(reply, { content: text }, null));
  },

  streamTail(reply: GenerationReply): string[] {
    const events = [sse(chunk(reply, {}, finishReason(reply)))];
    if (reply.request.includeUsage) {
      events.push(
        sse({
          id: reply.id,
          object: 'chat.completion.chunk',
          created: reply.created,
          model: reply.request.model,
          choices: [],
          usage: usage(reply),
        }),
      );
    }
    events.push('data: [DONE]\n\n');
    return events;
  },

  streamError(message: string): string {
    return sse({ error: { message, type: 'server_error', param: null, code: null } });
  },

  modelList(ids: string[]): object {
    return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'llm-simulator' })) };
  },
};

export interface EmbeddingRequest {
  model: string;
  inputs: string[];
  dimensions: number;
  base64: boolean;
}

export function parseEmbeddingRequest(body: unknown, defaultDimensions: number): Parsed<EmbeddingRequest> {
  if (!isRecord(body)) return { ok: false, message: 'The request body must be a JSON object' };
  const problem = checkModel(body.model) ?? checkPositiveInteger(body.dimensions, 'dimensions');
  if (problem) return { ok: false, message: problem };
  const inputs = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((input) => typeof input === 'string')) {
    return { ok: false, message: 'input: a string or a non-empty array of strings is required' };
  }
  const dimensions = (body.dimensions as number | undefined) ?? defaultDimensions;
  if (dimensions > MAX_EMBEDDING_DIMENSIONS) {
    return { ok: false, message: `dimensions must be at most ${MAX_EMBEDDING_DIMENSIONS}` };
  }
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
    return { ok: false, message: "encoding_format must be 'float' or 'base64'" };
  }
  return { ok: true, value: { model: body.model as string, inputs, dimensions, base64: body.encoding_format === 'base64' } };
}

/** The official SDKs ask for base64 (little-endian float32) by default, so support it. */
function encodeBase64(vector: number[]): string {
  const floats = Float32Array.from(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

export function embeddingList(request: EmbeddingRequest): object {
  const tokens = request.inputs.reduce((total, input) => total + countWords(input), 0);
  return {
    object: 'list',
    data: request.inputs.map((input, index) => {
      const vector = embedText(input, request.dimensions);
      return { object: 'embedding', index, embedding: request.base64 ? encodeBase64(vector) : vector };
    }),
    model: request.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
