import { Injectable } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { SpendTracker } from '../cost/spend-tracker';
import type { ChatCompletionRequest, Usage } from '../llm/chat.types';
import { LlmService, type CallOptions } from '../llm/llm.service';
import { SearchService } from '../search/search.service';
import { SYNTHESIS_LIMITS, type SynthesisRequestDto } from './dto/synthesis-request.dto';
import type { SynthesisCitationDto, SynthesisDeltaDto, SynthesisResponseDto, SynthesisSummaryDto } from './dto/synthesis-response.dto';
import { buildSynthesisMessages, parseJsonAnswer, scanCitations, type SynthesisFormat, type SynthesisSource } from './synthesis-prompt';

export type SynthesisEvent = { event: 'delta'; data: SynthesisDeltaDto } | { event: 'done'; data: SynthesisSummaryDto };

export interface SynthesisStream {
  upstream: string;
  model: string;
  /** Deltas as the model's tokens arrive, then one `done`; ending the iteration early aborts the upstream. */
  events: AsyncIterable<SynthesisEvent>;
}

/** Said without asking a model when retrieval found nothing to answer from. */
export const NO_SOURCES_ANSWER = 'No sources were found for this question.';

// A structured answer that does not parse is asked for once more, then reported as the model's failure.
const JSON_ATTEMPTS = 2;

const NO_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/** Answers a question from sources (given, or retrieved by search) with an LLM, and keeps only citations of those sources. */
@Injectable()
export class SynthesisService {
  constructor(
    private readonly llm: LlmService,
    private readonly spend: SpendTracker,
    private readonly search: SearchService,
  ) {}

  async answer(request: SynthesisRequestDto, options: CallOptions = {}): Promise<SynthesisResponseDto> {
    const started = performance.now();
    const format = request.format ?? 'text';
    const sources = await this.sourcesFor(request, options);
    if (sources.length === 0) {
      const { upstream, model } = this.llm.route(request.model);
      return { answer: NO_SOURCES_ANSWER, format, ...this.summary(sources, NO_SOURCES_ANSWER, [], upstream.name, model, NO_USAGE, started) };
    }

    const chat = this.chatRequest(request, sources, format);
    let usage = NO_USAGE;
    for (let attempt = 1; ; attempt++) {
      const result = await this.llm.chat(chat, options);
      usage = addUsage(usage, result.completion.usage);
      const choice = result.completion.choices[0];
      const output = choice?.message.content ?? '';
      const summarize = (answer: string, listed: string[] = []) => ({
        answer,
        format,
        ...this.summary(sources, answer, listed, result.upstream, result.model, usage, started),
      });
      if (format === 'text') return summarize(output);
      const parsed = parseJsonAnswer(output);
      if (parsed) return summarize(parsed.answer, parsed.citations);
      if (attempt >= JSON_ATTEMPTS) {
        throw new LlmException(LlmErrorCode.INVALID_OUTPUT, `the model did not answer with the JSON asked for (${JSON_ATTEMPTS} attempts)`, {
          upstream: result.upstream,
          details: { model: result.model, finishReason: choice?.finish_reason ?? null },
        });
      }
    }
  }

  /** Upstream errors before the first token are thrown from here, so they keep their HTTP status. */
  async stream(request: SynthesisRequestDto, options: CallOptions = {}): Promise<SynthesisStream> {
    const started = performance.now();
    const sources = await this.sourcesFor(request, options);
    const summarize = (answer: string, upstream: string, model: string, usage: Usage) => this.summary(sources, answer, [], upstream, model, usage, started);

    if (sources.length === 0) {
      const { upstream, model } = this.llm.route(request.model);
      async function* nothingFound(): AsyncGenerator<SynthesisEvent> {
        yield { event: 'delta', data: { text: NO_SOURCES_ANSWER } };
        yield { event: 'done', data: summarize(NO_SOURCES_ANSWER, upstream.name, model, NO_USAGE) };
      }
      return { upstream: upstream.name, model, events: nothingFound() };
    }

    const stream = await this.llm.chatStream(this.chatRequest(request, sources, 'text'), options);
    async function* events(): AsyncGenerator<SynthesisEvent> {
      let answer = '';
      for await (const chunk of stream.chunks) {
        const text = chunk.choices[0]?.delta?.content;
        if (!text) continue;
        answer += text;
        yield { event: 'delta', data: { text } };
      }
      yield { event: 'done', data: summarize(answer, stream.upstream, stream.model, stream.usage() ?? NO_USAGE) };
    }
    return { upstream: stream.upstream, model: stream.model, events: events() };
  }

  private async sourcesFor(request: SynthesisRequestDto, options: CallOptions): Promise<SynthesisSource[]> {
    if (!request.useSearch) return request.sources ?? [];
    const { hits } = await this.search.search({ query: request.question, topK: request.topK ?? SYNTHESIS_LIMITS.defaultTopK }, options);
    // Two hits with one id would be one citation: keep them as one source, texts joined.
    const byId = new Map<string, SynthesisSource>();
    for (const hit of hits) {
      const known = byId.get(hit.id);
      if (known) {
        known.text = `${known.text} ${hit.text}`;
        continue;
      }
      const url = hit.metadata?.url;
      byId.set(hit.id, { id: hit.id, title: hit.title, text: hit.text, url: typeof url === 'string' ? url : undefined, metadata: hit.metadata });
    }
    return [...byId.values()];
  }

  private chatRequest(request: SynthesisRequestDto, sources: SynthesisSource[], format: SynthesisFormat): ChatCompletionRequest {
    return {
      model: request.model,
      messages: buildSynthesisMessages(request.question, sources, format),
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    };
  }

  private summary(
    sources: SynthesisSource[],
    answer: string,
    listed: string[],
    upstream: string,
    model: string,
    usage: Usage,
    started: number,
  ): SynthesisSummaryDto {
    const byId = new Map(sources.map((source) => [source.id, source]));
    const { cited, dropped } = scanCitations(answer, new Set(byId.keys()), listed);
    return {
      citations: cited.map((id) => citationOf(byId.get(id)!)),
      droppedCitations: dropped.length,
      model,
      upstream,
      usage: { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, totalTokens: usage.total_tokens },
      costUsd: this.spend.costOf(upstream, model, usage),
      latencyMs: Math.round(performance.now() - started),
    };
  }
}

function citationOf(source: SynthesisSource): SynthesisCitationDto {
  return { id: source.id, ...(source.title ? { title: source.title } : {}), ...(source.url ? { url: source.url } : {}) };
}

function addUsage(total: Usage, more: Usage | undefined): Usage {
  if (!more) return total;
  return {
    prompt_tokens: total.prompt_tokens + (more.prompt_tokens ?? 0),
    completion_tokens: total.completion_tokens + (more.completion_tokens ?? 0),
    total_tokens: total.total_tokens + (more.total_tokens ?? (more.prompt_tokens ?? 0) + (more.completion_tokens ?? 0)),
  };
}
