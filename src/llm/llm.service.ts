import { Injectable, Logger } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { UpstreamConfig } from '../config/llm.config';
import { SpendTracker, type BudgetHold } from '../cost/spend-tracker';
import { checkedUsage, estimateTokens } from '../cost/token-usage';
import type { RequestExchange } from '../observability/request-exchange';
import { UpstreamCatalog } from '../pool/upstream-catalog';
import { messageText, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type EmbeddingsRequest, type EmbeddingsResponse, type Usage } from './chat.types';
import { CODECS } from './codecs';
import { sseEvents } from './sse-events';
import { UpstreamClient } from './upstream-client';

/** A call's context, as a handler's @CallContext gives it (none for calls no request made). */
export interface CallOptions {
  /** Aborting it (the caller left) aborts the upstream request. */
  signal?: AbortSignal;
  /** The request's record: attempts, route, tokens and cost for its access log line. */
  exchange?: RequestExchange;
}

export interface ModelRoute {
  upstream: UpstreamConfig;
  model: string;
}

export interface ChatResult {
  upstream: string;
  model: string;
  completion: ChatCompletion;
  latencyMs: number;
}

export interface ChatStream {
  upstream: string;
  model: string;
  /** OpenAI-format chunks as the upstream sends them; ending the iteration early aborts the upstream. */
  chunks: AsyncIterable<ChatCompletionChunk>;
  /** Token usage, known once the stream has ended. */
  usage(): Usage | undefined;
}

/**
 * Chat completions (whole and streamed) and embeddings on any configured
 * upstream, addressed as `upstream/model` or by the configured default.
 */
const FALLBACK_ON = new Set([LlmErrorCode.CIRCUIT_OPEN, LlmErrorCode.UPSTREAM_UNAVAILABLE, LlmErrorCode.UPSTREAM_TIMEOUT]);

@Injectable()
export class LlmService {
  private readonly logger = new Logger('LlmService');

  constructor(
    private readonly catalog: UpstreamCatalog,
    private readonly client: UpstreamClient,
    private readonly spend: SpendTracker,
  ) {}

  /** `openai/gpt-4o`, `vllm-a/meta-llama/Llama-3-8B`, or a bare model on the default upstream. */
  route(model?: string): ModelRoute {
    const slash = model?.indexOf('/') ?? -1;
    const named = model && slash > 0 ? this.catalog.find(model.slice(0, slash)) : undefined;
    const upstream = named ?? this.catalog.find(this.catalog.defaultUpstream);
    if (!upstream) throw new LlmException(LlmErrorCode.UNKNOWN_UPSTREAM, 'no upstream is configured');
    const resolved = named ? model!.slice(slash + 1) : model || upstream.defaultModel;
    if (!resolved) {
      throw new LlmException(LlmErrorCode.BAD_REQUEST, `no model given and upstream "${upstream.name}" has no default (set LLM_MODEL)`);
    }
    return { upstream, model: resolved };
  }

  async chat(request: ChatCompletionRequest, options: CallOptions = {}): Promise<ChatResult> {
    return this.withFallback(request.model, (route) => this.chatOn(route, request, options));
  }

  async chatStream(request: ChatCompletionRequest, options: CallOptions = {}): Promise<ChatStream> {
    return this.withFallback(request.model, (route) => this.chatStreamOn(route, request, options));
  }

  async embeddings(request: EmbeddingsRequest, options: CallOptions = {}): Promise<EmbeddingsResponse> {
    return this.withFallback(request.model, (route) => this.embeddingsOn(route, request, options));
  }

  /**
   * Runs a call on the addressed upstream; if that upstream is failing (circuit open,
   * unreachable, timing out) and has a fallback (LLM_<NAME>_FALLBACK), runs it there instead.
   */
  private async withFallback<T>(address: string | undefined, call: (route: ModelRoute) => Promise<T>): Promise<T> {
    const route = this.route(address);
    try {
      return await call(route);
    } catch (error) {
      const fallback = route.upstream.fallback;
      if (!fallback || !(error instanceof LlmException) || !FALLBACK_ON.has(error.code)) throw error;
      this.logger.warn(`${route.upstream.name} failed (${error.code}); answering from fallback ${fallback}`);
      return call(this.route(fallback));
    }
  }

  /** The call's worst case held against the budget: its prompt, estimated, and all the completion tokens it may ask for. */
  private reserveChat(upstream: string, model: string, request: ChatCompletionRequest, { exchange }: CallOptions): Promise<BudgetHold> {
    return this.spend.reserve(
      { upstream, model },
      { promptTokens: estimatePromptTokens(request), maxCompletionTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined },
      exchange,
    );
  }

  private async chatOn({ upstream, model }: ModelRoute, request: ChatCompletionRequest, options: CallOptions): Promise<ChatResult> {
    const codec = CODECS[upstream.wire];
    const call = codec.encodeChat(request, model, false);
    const started = performance.now();
    const hold = await this.reserveChat(upstream.name, model, request, options);
    const completion = await releasedOnFailure(hold, async () =>
      codec.decodeChat(await this.client.json(upstream, { ...call, headers: (key) => codec.headers(key), signal: options.signal, exchange: options.exchange }), model),
    );
    const checked = checkedUsage(completion.usage, () => ({
      prompt: estimatePromptTokens(request),
      completion: completion.choices.reduce((n, choice) => n + estimateTokens(String(choice?.message?.content ?? '')), 0),
    }));
    // The caller (and synthesis' cost) sees the counts the budget was charged with.
    completion.usage = checked.usage;
    await hold.settle(checked.usage, checked.estimated);
    return { upstream: upstream.name, model, completion, latencyMs: performance.now() - started };
  }

  private async chatStreamOn({ upstream, model }: ModelRoute, request: ChatCompletionRequest, options: CallOptions): Promise<ChatStream> {
    const codec = CODECS[upstream.wire];
    const call = codec.encodeChat(request, model, true);
    const hold = await this.reserveChat(upstream.name, model, request, options);
    const { body, failure, maxEventBytes, released } = await releasedOnFailure(hold, () =>
      this.client.stream(upstream, { ...call, headers: (key) => codec.headers(key), signal: options.signal, exchange: options.exchange }),
    );
    const decoder = codec.streamDecoder(model);
    let usage: Usage | undefined;
    let reportedUsage: unknown;
    let streamedChunks = 0;
    const settle = () => checkedUsage(reportedUsage, () => ({ prompt: estimatePromptTokens(request), completion: streamedChunks }));

    async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      try {
        for await (const event of sseEvents(body, maxEventBytes)) {
          for (const chunk of decoder.decode(event)) {
            if (chunk.usage) {
              reportedUsage = chunk.usage;
              usage = chunk.usage = settle().usage;
            }
            if (chunk.choices[0]?.delta?.content) streamedChunks++;
            yield chunk;
          }
          if (decoder.done) break;
        }
        if (!decoder.done) throw new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${upstream.name}" ended the stream early`);
      } catch (error) {
        throw failure(error);
      } finally {
        // Complete: drain the last bytes so the socket returns to the pool, and only then let the caller's
        // response end: a caller that sends its next request at once must find this socket free, not open
        // another. Otherwise (caller gone, error, or the upstream never ending the body): destroy it, which
        // aborts the upstream generation.
        if (decoder.done) body.resume();
        if (!decoder.done || !(await settlesWithin(released, RELEASE_WAIT_MS))) body.destroy();
        // A stream cut short still cost what was generated: estimate it (a chunk is about a token) rather than record nothing.
        const checked = settle();
        await hold.settle(checked.usage, checked.estimated);
      }
    }
    return { upstream: upstream.name, model, chunks: chunks(), usage: () => usage };
  }

  private async embeddingsOn({ upstream, model }: ModelRoute, request: EmbeddingsRequest, options: CallOptions): Promise<EmbeddingsResponse> {
    const codec = CODECS[upstream.wire];
    const call = codec.encodeEmbeddings(request, model);
    const inputs = Array.isArray(request.input) ? request.input : [request.input];
    const promptTokens = inputs.reduce((n, input) => n + estimateTokens(String(input)), 0);
    const hold = await this.spend.reserve({ upstream: upstream.name, model }, { promptTokens, maxCompletionTokens: 0 }, options.exchange);
    const response = await releasedOnFailure(hold, async () =>
      codec.decodeEmbeddings(await this.client.json(upstream, { ...call, headers: (key) => codec.headers(key), signal: options.signal, exchange: options.exchange })),
    );
    // Embeddings have no completion tokens; only the input count is the upstream's to report.
    const checked = checkedUsage({ prompt_tokens: (response.usage as { prompt_tokens?: unknown } | undefined)?.prompt_tokens, completion_tokens: 0 }, () => ({
      prompt: promptTokens,
      completion: 0,
    }));
    response.usage = { prompt_tokens: checked.usage.prompt_tokens, total_tokens: checked.usage.prompt_tokens };
    await hold.settle(checked.usage, checked.estimated);
    return response;
  }
}

// How long a stream whose last event has arrived may take to end its body (the chunked terminator, usually
// in the same or the next packet) before it is cut: its socket is then closed rather than reused.
export const RELEASE_WAIT_MS = 1_000;

export function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  // A timer cleared as soon as the promise settles: an AbortSignal.timeout would still fire a second later for
  // every stream, and build a DOMException (with its stack) each time, for nobody (measured in the bench's profile).
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A call that failed before the upstream gave a usable answer is not charged: its budget hold ends with it. */
async function releasedOnFailure<T>(hold: BudgetHold, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    await hold.release();
    throw error;
  }
}

/** About four characters a token: for usage the upstream did not report (or reported malformed). */
function estimatePromptTokens(request: ChatCompletionRequest): number {
  return request.messages.reduce((n, m) => n + estimateTokens(messageText(m)), 0);
}
