import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, EmbeddingsRequest, EmbeddingsResponse } from '../chat.types';
import type { EncodedCall, ServerSentEvent, StreamDecoder, WireCodec } from './wire-codec';

/** OpenAI's wire format is the service's own, so this codec mostly passes through. */
export class OpenAiCodec implements WireCodec {
  readonly modelsPath = '/models';

  headers(apiKey: string | undefined): Record<string, string> {
    return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  encodeChat(request: ChatCompletionRequest, model: string, stream: boolean): EncodedCall {
    const body: ChatCompletionRequest = { ...request, model, stream };
    // Usage is always asked for, so every stream's tokens are counted; the caller's choice is applied on the way out.
    if (stream) body.stream_options = { ...request.stream_options, include_usage: true };
    else delete body.stream_options;
    return { path: '/chat/completions', body };
  }

  decodeChat(body: unknown): ChatCompletion {
    const completion = body as ChatCompletion;
    if (!completion || !Array.isArray(completion.choices)) throw malformed('chat completion');
    return completion;
  }

  streamDecoder(): StreamDecoder {
    let done = false;
    return {
      get done() {
        return done;
      },
      decode(event: ServerSentEvent): ChatCompletionChunk[] {
        if (event.data === '[DONE]') {
          done = true;
          return [];
        }
        const chunk = parseJson(event.data) as ChatCompletionChunk & { error?: { message?: string } };
        if (chunk?.error) throw new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream stream error: ${chunk.error.message ?? 'unknown'}`);
        if (!chunk || !Array.isArray(chunk.choices)) throw malformed('stream chunk');
        return [chunk];
      },
    };
  }

  encodeEmbeddings(request: EmbeddingsRequest, model: string): EncodedCall {
    return { path: '/embeddings', body: { ...request, model } };
  }

  decodeEmbeddings(body: unknown): EmbeddingsResponse {
    const response = body as EmbeddingsResponse;
    if (!response || !Array.isArray(response.data)) throw malformed('embeddings response');
    return response;
  }

}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function malformed(what: string): LlmException {
  return new LlmException(LlmErrorCode.UPSTREAM_ERROR, `upstream sent a malformed ${what}`);
}
