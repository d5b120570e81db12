import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest, EmbeddingsResponse } from '../chat.types';

/** An upstream call as a codec encodes it: the path below the base URL and the JSON body. */
export interface EncodedCall {
  path: string;
  body: unknown;
}

export interface ServerSentEvent {
  event?: string;
  data: string;
}

/** Turns one upstream stream's events into chunks; stateful, one per stream. */
export interface StreamDecoder {
  decode(event: ServerSentEvent): ChatCompletionChunk[];
  /** The upstream said the stream is complete. */
  readonly done: boolean;
}

/**
 * Everything that differs between provider wire formats. Transport, pooling,
 * deadlines and errors live in UpstreamClient; a codec only encodes and decodes.
 */
export interface WireCodec {
  /** Where the upstream lists its models (GET, below the base URL); both formats answer `{data: [{id, ...}]}`. */
  readonly modelsPath: string;
  headers(apiKey: string | undefined): Record<string, string>;
  encodeChat(request: ChatCompletionRequest, model: string, stream: boolean): EncodedCall;
  decodeChat(body: unknown, model: string): ChatCompletion;
  streamDecoder(model: string): StreamDecoder;
  encodeEmbeddings(request: EmbeddingsRequest, model: string): EncodedCall;
  decodeEmbeddings(body: unknown): EmbeddingsResponse;
}

/** OpenAI's `error.param` and `error.code` of an upstream error body (strings only; Anthropic's bodies have neither). */
export function upstreamErrorFields(body: unknown): { param?: string; code?: string } {
  const error = (body as { error?: { param?: unknown; code?: unknown } } | undefined)?.error;
  return {
    ...(typeof error?.param === 'string' ? { param: error.param } : {}),
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
  };
}

/** The message inside an upstream error body; OpenAI and Anthropic both put it at `error.message`. */
export function upstreamErrorMessage(body: unknown): string | undefined {
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? message : undefined;
}
