import { Inject, Injectable } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { LlmService, type CallOptions } from '../llm/llm.service';
import { decodeVector } from './index/index-store';
import { normalize } from './index/vector-index';
import { searchConfig, type SearchConfig } from './search.config';

// Embedding models take ~8k tokens per input; 8k characters stays within that even for dense scripts.
const INPUT_MAX_CHARS = 8_192;
// Batches in flight at once while indexing; the upstream pool still caps the sockets.
const INDEXING_CONCURRENCY = 4;

export interface BatchEmbedding {
  /** One slot per text: its unit vector, or undefined when its batch failed. */
  vectors: (Float32Array | undefined)[];
  /** The first failure, when any batch failed. */
  error?: Error;
}

/** Texts to unit vectors through LlmService (so over the upstream pools), in batches, each call under a deadline. */
@Injectable()
export class SearchEmbedder {
  constructor(
    @Inject(searchConfig.KEY) private readonly config: SearchConfig,
    private readonly llm: LlmService,
  ) {}

  get model(): string | undefined {
    return this.config.embeddingModel;
  }

  get batchSize(): number {
    return this.config.embeddingBatchSize;
  }

  /** One embeddings call; `call` is the caller's (a query's; none for indexing), the deadline is SEARCH_EMBEDDING_TIMEOUT_MS. */
  async embed(texts: string[], call: CallOptions = {}): Promise<Float32Array[]> {
    const { signal } = call;
    const model = this.config.embeddingModel;
    if (!model) throw new LlmException(LlmErrorCode.UNSUPPORTED, 'no embeddings model is configured (SEARCH_EMBEDDING_MODEL)');
    const deadline = AbortSignal.timeout(this.config.embeddingTimeoutMs);
    let response;
    try {
      response = await this.llm.embeddings(
        { model, input: texts.map((text) => text.slice(0, INPUT_MAX_CHARS)) },
        { signal: signal ? AbortSignal.any([signal, deadline]) : deadline, exchange: call.exchange },
      );
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) {
        throw new LlmException(LlmErrorCode.UPSTREAM_TIMEOUT, `embeddings did not answer within ${this.config.embeddingTimeoutMs} ms`);
      }
      throw error;
    }
    const data = [...response.data].sort((a, b) => a.index - b.index);
    if (data.length !== texts.length || data.some((item, index) => item.index !== index)) {
      throw new LlmException(LlmErrorCode.UPSTREAM_ERROR, `the embeddings response holds ${data.length} vectors for ${texts.length} inputs`);
    }
    return data.map((item) => normalize(typeof item.embedding === 'string' ? decodeVector(item.embedding) : item.embedding));
  }

  /**
   * Embeds any number of texts in batches of SEARCH_EMBEDDING_BATCH_SIZE. After
   * a failure no further batch starts (the upstream is likely down); the texts
   * left over simply have no vector.
   */
  async embedAll(texts: string[]): Promise<BatchEmbedding> {
    const vectors: (Float32Array | undefined)[] = new Array(texts.length).fill(undefined);
    const starts: number[] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) starts.push(start);
    let error: Error | undefined;
    let next = 0;
    const worker = async () => {
      while (!error && next < starts.length) {
        const start = starts[next++];
        try {
          const batch = await this.embed(texts.slice(start, start + this.batchSize));
          batch.forEach((vector, offset) => (vectors[start + offset] = vector));
        } catch (failure) {
          error ??= failure instanceof Error ? failure : new Error(String(failure));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(INDEXING_CONCURRENCY, starts.length) }, worker));
    return { vectors, error };
  }
}

/** What a document is embedded as: its title gives the vector context the body may lack. */
export function embeddingInput(document: { title?: string; text: string }): string {
  return document.title ? `${document.title}\n${document.text}` : document.text;
}
