import { Injectable } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../../common/llm.exception';
import { SpendTracker, type BudgetHold } from '../../cost/spend-tracker';
import { checkedUsage, estimateTokens } from '../../cost/token-usage';
import { CODECS } from '../codecs';
import { parseJson } from '../codecs/openai.codec';
import { LlmService, RELEASE_WAIT_MS, settlesWithin, type CallOptions, type ModelRoute } from '../llm.service';
import { sseEvents } from '../sse-events';
import { UpstreamClient } from '../upstream-client';
import { ChunkTranslator, chatToMessage } from './chat-to-messages';
import { messagesToChat, systemText } from './messages-to-chat';
import type { AnthropicEvent, MessagesRequest } from './messages.types';

export interface MessagesCallOptions extends CallOptions {
  /** The caller's `anthropic-version` / `anthropic-beta` headers, passed to an Anthropic-wire upstream. */
  headers?: Record<string, string>;
}

export interface MessagesAnswer {
  upstream: string;
  message: unknown;
}

export interface MessagesStream {
  upstream: string;
  events: AsyncIterable<AnthropicEvent>;
}

/**
 * Anthropic's Messages API inbound. To an Anthropic-wire upstream the request and its events pass through
 * as sent (pool, retries, budget and spend as for chat); to an OpenAI-compatible upstream they are
 * translated to chat completions and back, streams included.
 */
@Injectable()
export class MessagesService {
  constructor(
    private readonly llm: LlmService,
    private readonly client: UpstreamClient,
    private readonly spend: SpendTracker,
  ) {}

  async create(request: MessagesRequest, options: MessagesCallOptions): Promise<MessagesAnswer> {
    const route = this.llm.route(request.model);
    if (route.upstream.wire === 'anthropic') return this.passThrough(route, request, options);
    const result = await this.llm.chat(messagesToChat(request, false), options);
    return { upstream: result.upstream, message: chatToMessage(result.completion, request.model ?? result.model) };
  }

  async stream(request: MessagesRequest, options: MessagesCallOptions): Promise<MessagesStream> {
    const route = this.llm.route(request.model);
    if (route.upstream.wire === 'anthropic') return this.streamThrough(route, request, options);
    const stream = await this.llm.chatStream(messagesToChat(request, true), options);
    const translator = new ChunkTranslator(request.model ?? stream.model);
    async function* events(): AsyncGenerator<AnthropicEvent> {
      for await (const chunk of stream.chunks) yield* translator.translate(chunk);
      yield* translator.end();
    }
    return { upstream: stream.upstream, events: events() };
  }

  /** The upstream's own count when it has one (Anthropic wire), else an estimate of about four characters a token. */
  async countTokens(request: MessagesRequest, options: MessagesCallOptions): Promise<{ input_tokens: number }> {
    const route = this.llm.route(request.model);
    if (route.upstream.wire === 'anthropic') {
      try {
        const body = { ...request, model: route.model };
        const answer = await this.client.json(route.upstream, { path: '/v1/messages/count_tokens', body, headers: this.headers(options), signal: options.signal, exchange: options.exchange });
        const counted = (answer as { input_tokens?: unknown })?.input_tokens;
        if (typeof counted === 'number') return { input_tokens: counted };
      } catch (error) {
        // An upstream without the endpoint (404/405) is estimated for; any other failure is the caller's to see.
        if (!(error instanceof LlmException) || (error.status !== 404 && error.status !== 405)) throw error;
      }
    }
    return { input_tokens: estimatePrompt(request) };
  }

  private headers(options: MessagesCallOptions) {
    return (key: string | undefined) => ({ ...CODECS.anthropic.headers(key), ...options.headers });
  }

  private reserve({ upstream, model }: ModelRoute, request: MessagesRequest, { exchange }: MessagesCallOptions): Promise<BudgetHold> {
    return this.spend.reserve({ upstream: upstream.name, model }, { promptTokens: estimatePrompt(request), maxCompletionTokens: request.max_tokens }, exchange);
  }

  private async passThrough(route: ModelRoute, request: MessagesRequest, options: MessagesCallOptions): Promise<MessagesAnswer> {
    const hold = await this.reserve(route, request, options);
    let message: unknown;
    try {
      const body = { ...request, model: route.model, stream: false };
      message = await this.client.json(route.upstream, { path: '/v1/messages', body, headers: this.headers(options), signal: options.signal, exchange: options.exchange });
    } catch (error) {
      await hold.release();
      throw error;
    }
    const usage = (message as { usage?: { input_tokens?: unknown; output_tokens?: unknown } })?.usage;
    const checked = checkedUsage({ prompt_tokens: usage?.input_tokens, completion_tokens: usage?.output_tokens }, () => ({
      prompt: estimatePrompt(request),
      completion: estimateTokens(JSON.stringify((message as { content?: unknown })?.content ?? '')),
    }));
    await hold.settle(checked.usage, checked.estimated);
    return { upstream: route.upstream.name, message };
  }

  private async streamThrough(route: ModelRoute, request: MessagesRequest, options: MessagesCallOptions): Promise<MessagesStream> {
    const hold = await this.reserve(route, request, options);
    const body = { ...request, model: route.model, stream: true };
    let upstreamStream;
    try {
      upstreamStream = await this.client.stream(route.upstream, { path: '/v1/messages', body, headers: this.headers(options), signal: options.signal, exchange: options.exchange });
    } catch (error) {
      await hold.release();
      throw error;
    }
    const { body: events, failure, maxEventBytes, released } = upstreamStream;
    let input: unknown;
    let output: unknown;
    let deltas = 0;
    let done = false;
    let upstreamFailed = false;
    async function* passed(): AsyncGenerator<AnthropicEvent> {
      try {
        for await (const raw of sseEvents(events, maxEventBytes)) {
          const data = parseJson(raw.data) as Record<string, any> | undefined;
          if (!data || typeof data.type !== 'string') throw new LlmException(LlmErrorCode.UPSTREAM_ERROR, 'upstream sent a malformed stream event');
          if (data.type === 'message_start') input = data.message?.usage?.input_tokens;
          if (data.type === 'message_delta') output = data.usage?.output_tokens;
          if (data.type === 'content_block_delta') deltas++;
          // The upstream's own error event is already in Anthropic's words: pass it on, and the stream ends there.
          yield { event: raw.event ?? data.type, data };
          if (data.type === 'message_stop') {
            done = true;
            break;
          }
          if (data.type === 'error') {
            upstreamFailed = true;
            failure(new Error(`upstream stream error: ${String(data.error?.message ?? 'unknown')}`)); // counted as the upstream's failure
            break;
          }
        }
        if (!done && !upstreamFailed) throw new LlmException(LlmErrorCode.UPSTREAM_UNAVAILABLE, `upstream "${route.upstream.name}" ended the stream early`);
      } catch (error) {
        throw failure(error);
      } finally {
        // As for chat: a complete body is drained and its socket freed before the caller's response ends.
        if (done) events.resume();
        if (!done || !(await settlesWithin(released, RELEASE_WAIT_MS))) events.destroy();
        // A missing count is estimated: a content delta is about a token.
        const checked = checkedUsage({ prompt_tokens: input, completion_tokens: output }, () => ({ prompt: estimatePrompt(request), completion: deltas }));
        await hold.settle(checked.usage, checked.estimated);
      }
    }
    return { upstream: route.upstream.name, events: passed() };
  }
}

function estimatePrompt(request: MessagesRequest): number {
  const text = request.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('\n');
  const tools = request.tools ? JSON.stringify(request.tools) : '';
  let system = '';
  try {
    system = systemText(request.system);
  } catch {
    system = JSON.stringify(request.system ?? '');
  }
  return estimateTokens(`${system}\n${text}\n${tools}`);
}
