import type { IncomingHttpHeaders } from 'node:http';
import type { Answer, ChatTurn } from './extractive-answer';

/** A chat request after the wire format's own fields have been read. */
export interface GenerationRequest {
  model: string;
  turns: ChatTurn[];
  maxTokens?: number;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`; Anthropic always reports usage. */
  includeUsage: boolean;
}

/** Everything a wire format needs to render one answer, streamed or not. */
export interface GenerationReply {
  id: string;
  created: number;
  request: GenerationRequest;
  answer: Answer;
  /** The toolCall fault: the answer is a call to this tool, `answer.text` being its arguments as JSON. */
  toolCall?: { id: string; name: string; input: Record<string, unknown> };
  /** A fault's rewrite of the usage block (FaultOptions.usage). */
  usagePatch?: Record<string, unknown>;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * What differs between the OpenAI and Anthropic wire formats. The simulator
 * does timing, faults and counting once; a wire format only shapes bytes.
 */
export interface WireFormat {
  readonly name: 'openai' | 'anthropic';
  readonly idPrefix: string;
  /** The API key the request carries in this format's header, if any. */
  credential(headers: IncomingHttpHeaders): string | undefined;
  errorBody(status: number, message: string): object;
  parseGeneration(body: unknown): Parsed<GenerationRequest>;
  completion(reply: GenerationReply): object;
  /** SSE events sent with the first token, before any text. */
  streamHead(reply: GenerationReply): string[];
  /** One SSE event carrying one token of text. */
  streamDelta(reply: GenerationReply, text: string): string;
  /** SSE events that close the stream (finish reason, usage, terminator). */
  streamTail(reply: GenerationReply): string[];
  /** The SSE event a provider sends when a stream fails after its 200 (e.g. overloaded midway). */
  streamError(message: string): string;
  modelList(ids: string[]): object;
}

/** The usage block as a wire renders it, with a fault's rewrite applied: a value replaces a field, null removes it. */
export function patchedUsage(reply: GenerationReply, usage: Record<string, unknown>): Record<string, unknown> {
  const patched = { ...usage };
  for (const [field, value] of Object.entries(reply.usagePatch ?? {})) {
    if (value === null) delete patched[field];
    else patched[field] = value;
  }
  return patched;
}

/** Shared request-field checks; each returns an error message or undefined. */
export function checkPositiveInteger(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Number.isInteger(value) && (value as number) >= 1 ? undefined : `${field} must be a positive integer`;
}

export function checkModel(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? undefined : 'model: a non-empty string is required';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
