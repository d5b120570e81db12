import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { ScoredId } from './index/bm25-index';
import { DocumentIndex } from './index/document-index';
import { reciprocalRankFusion } from './index/rank-fusion';
import { tokenize } from './index/tokenizer';
import { embeddingInput, SearchEmbedder } from './search-embedder';
import { documentNotFound } from './search.errors';
import {
  DEFAULT_TOP_K,
  MAX_TOP_K,
  type DocumentMetadata,
  type IndexResult,
  type SearchMode,
  type SearchResult,
  type StoredDocument,
} from './search.types';
import { highlightSnippet } from './snippet';

/** How deep each ranking goes into fusion: past the largest topK, so fusion can promote a document from lower down. */
const FUSION_DEPTH = 100;

export interface NewDocument {
  id: string;
  title?: string;
  text: string;
  metadata?: DocumentMetadata;
}

export interface DocumentView {
  id: string;
  title?: string;
  text: string;
  metadata: DocumentMetadata;
  /** Whether the document has a vector (always false without SEARCH_EMBEDDING_MODEL). */
  embedded: boolean;
}

/**
 * Indexing and retrieval: BM25 always, fused with embeddings (reciprocal rank
 * fusion) when SEARCH_EMBEDDING_MODEL is set. Embedding failures degrade to
 * lexical search instead of failing the request.
 */
@Injectable()
export class SearchService implements OnModuleInit {
  private readonly logger = new Logger('Search');
  private backfilling?: Promise<void>;

  constructor(
    private readonly index: DocumentIndex,
    private readonly embedder: SearchEmbedder,
  ) {}

  onModuleInit(): void {
    this.logger.log(this.embedder.model ? `hybrid search with embeddings from ${this.embedder.model}` : 'lexical search (BM25); set SEARCH_EMBEDDING_MODEL for hybrid');
  }

  /**
   * Upserts a batch. With an embeddings model the documents are embedded first
   * (unchanged ones keep their vector); if that fails they are stored anyway,
   * listed in `pendingEmbedding`, and embedded by later searches.
   */
  async indexDocuments(batch: NewDocument[]): Promise<IndexResult> {
    const ids = batch.map((document) => document.id);
    this.index.assertCapacity(ids);
    let documents: StoredDocument[] = batch.map((document) => ({
      id: document.id,
      ...(document.title !== undefined && { title: document.title }),
      text: document.text,
      // A copy of own keys only: what the caller sent may carry more than the DTO declares.
      metadata: Object.fromEntries(Object.entries(document.metadata ?? {})),
    }));
    const result: IndexResult = { indexed: documents.length, ids };
    if (this.embedder.model) documents = await this.withVectors(documents, result);
    await this.index.upsert(documents);
    return result;
  }

  /** The documents with their vectors: kept when unchanged, embedded otherwise; failures noted on `result`. */
  private async withVectors(batch: StoredDocument[], result: IndexResult): Promise<StoredDocument[]> {
    let documents = batch.map((document) => {
      const previous = this.index.get(document.id);
      const unchanged = previous?.vector && previous.title === document.title && previous.text === document.text;
      return unchanged ? { ...document, vector: previous.vector } : document;
    });
    const toEmbed = documents.filter((document) => !document.vector);
    if (toEmbed.length > 0) {
      const { vectors, error } = await this.embedder.embedAll(toEmbed.map(embeddingInput));
      const embedded = new Map(toEmbed.flatMap((document, i) => (vectors[i] ? [[document.id, vectors[i]] as const] : [])));
      documents = documents.map((document) => (embedded.has(document.id) ? { ...document, vector: embedded.get(document.id) } : document));
      if (error) {
        result.pendingEmbedding = toEmbed.filter((document) => !embedded.has(document.id)).map((document) => document.id);
        result.degraded = `embedding failed (${error.message}); these documents are searchable lexically and are embedded by later searches`;
        this.logger.warn(`indexing without vectors for ${result.pendingEmbedding.length} documents: ${error.message}`);
      }
    }
    return documents;
  }

  getDocument(id: string): DocumentView {
    const document = this.index.get(id);
    if (!document) throw documentNotFound(id);
    return { id: document.id, title: document.title, text: document.text, metadata: document.metadata, embedded: document.vector !== undefined };
  }

  async deleteDocument(id: string): Promise<{ id: string; deleted: true }> {
    await this.index.remove(id);
    return { id, deleted: true };
  }

  /** Ranked hits for a query; never fails because an embeddings upstream does (see `degraded`). */
  async search(
    request: { query: string; topK?: number; filter?: Record<string, string | number | boolean> },
    options?: { signal?: AbortSignal },
  ): Promise<SearchResult> {
    const topK = Math.min(MAX_TOP_K, Math.max(1, Math.trunc(request.topK ?? DEFAULT_TOP_K)));
    const filter = request.filter && Object.keys(request.filter).length > 0 ? request.filter : undefined;
    const terms = tokenize(request.query);
    const termSet = new Set(terms);
    const lexical = this.index.lexicalSearch(terms, this.embedder.model ? FUSION_DEPTH : topK, filter);
    if (!this.embedder.model) return this.present('lexical', lexical.slice(0, topK), termSet);

    let queryVector: Float32Array;
    try {
      [[queryVector]] = await Promise.all([this.embedder.embed([request.query], options?.signal), this.backfill()]);
    } catch (error) {
      if (options?.signal?.aborted) throw error;
      const reason = `query embedding failed: ${(error as Error).message}`;
      this.logger.warn(`${reason}; answering lexically`);
      return { ...this.present('lexical', lexical.slice(0, topK), termSet), degraded: reason };
    }
    const semantic = this.index.vectorSearch(queryVector, FUSION_DEPTH, filter);
    return this.present('hybrid', reciprocalRankFusion([lexical, semantic]).slice(0, topK), termSet);
  }

  /**
   * Embeds up to one batch of documents stored without a vector (their indexing-time
   * embedding failed, or the model changed). One backfill at a time; never throws.
   */
  private backfill(): Promise<void> {
    const missing = this.index.missingVectors(this.embedder.batchSize);
    if (missing.length === 0) return Promise.resolve();
    this.backfilling ??= this.embedder
      .embed(missing.map(embeddingInput))
      .then((vectors) => this.index.attachVectors(missing.map((document, i) => ({ document, vector: vectors[i] }))))
      .catch((error: unknown) => this.logger.warn(`backfilling ${missing.length} vectors failed: ${(error as Error).message}`))
      .finally(() => (this.backfilling = undefined));
    return this.backfilling;
  }

  private present(mode: SearchMode, ranked: ScoredId[], terms: ReadonlySet<string>): SearchResult {
    // A document deleted while the query was being embedded is skipped, not returned half-known.
    const hits = ranked.flatMap(({ id, score }) => {
      const document = this.index.get(id);
      if (!document) return [];
      return [
        {
          id,
          score,
          ...(document.title !== undefined && { title: document.title }),
          text: document.text,
          snippet: highlightSnippet(document.text, terms),
          metadata: document.metadata,
        },
      ];
    });
    return { mode, hits };
  }
}
