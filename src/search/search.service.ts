import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { CallOptions } from '../llm/llm.service';
import type { ScoredId } from './index/bm25-index';
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
import { DOCUMENT_STORE, type DocumentStore } from './store/document-store';

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
 * Indexing and retrieval: lexical always (BM25 embedded, ts_rank_cd in PostgreSQL),
 * fused with embeddings (reciprocal rank fusion) when SEARCH_EMBEDDING_MODEL is set
 * and the store keeps vectors. Embedding failures degrade to lexical search instead
 * of failing the request. The store is the embedded DocumentIndex or PgDocumentStore
 * (search.module.ts); either may answer asynchronously.
 */
@Injectable()
export class SearchService implements OnModuleInit {
  private readonly logger = new Logger('Search');
  private backfilling?: Promise<void>;

  constructor(
    @Inject(DOCUMENT_STORE) private readonly index: DocumentStore,
    private readonly embedder: SearchEmbedder,
  ) {}

  onModuleInit(): void {
    this.logger.log(this.embedder.model ? `hybrid search with embeddings from ${this.embedder.model}` : 'lexical search; set SEARCH_EMBEDDING_MODEL for hybrid');
  }

  /** The embeddings model in use: none when unset, or when the store cannot keep vectors (PostgreSQL without pgvector). */
  private get model(): string | undefined {
    return this.index.vectorsUnavailable?.() === undefined ? this.embedder.model : undefined;
  }

  /**
   * Upserts a batch. With an embeddings model the documents are embedded first
   * (unchanged ones keep their vector); if that fails they are stored anyway,
   * listed in `pendingEmbedding`, and embedded by later searches.
   */
  async indexDocuments(batch: NewDocument[]): Promise<IndexResult> {
    const ids = batch.map((document) => document.id);
    await this.index.assertCapacity(ids);
    let documents: StoredDocument[] = batch.map((document) => ({
      id: document.id,
      ...(document.title !== undefined && { title: document.title }),
      text: document.text,
      // A copy of own keys only: what the caller sent may carry more than the DTO declares.
      metadata: Object.fromEntries(Object.entries(document.metadata ?? {})),
    }));
    const result: IndexResult = { indexed: documents.length, ids };
    if (this.model) documents = await this.withVectors(documents, result);
    await this.index.upsert(documents);
    return result;
  }

  /** The documents with their vectors: kept when unchanged, embedded otherwise; failures noted on `result`. */
  private async withVectors(batch: StoredDocument[], result: IndexResult): Promise<StoredDocument[]> {
    const previousById = new Map((await this.fetch(batch.map((document) => document.id))).map((document) => [document.id, document]));
    let documents = batch.map((document) => {
      const previous = previousById.get(document.id);
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

  async getDocument(id: string): Promise<DocumentView> {
    const document = await this.index.get(id);
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
    options?: CallOptions,
  ): Promise<SearchResult> {
    const topK = Math.min(MAX_TOP_K, Math.max(1, Math.trunc(request.topK ?? DEFAULT_TOP_K)));
    const filter = request.filter && Object.keys(request.filter).length > 0 ? request.filter : undefined;
    const terms = tokenize(request.query);
    const termSet = new Set(terms);
    const model = this.model;
    const lexical = await this.index.lexicalSearch(terms, model ? FUSION_DEPTH : topK, filter);
    if (!model) {
      const result = await this.present('lexical', lexical.slice(0, topK), termSet);
      const noVectors = this.embedder.model && this.index.vectorsUnavailable?.();
      return noVectors ? { ...result, degraded: noVectors } : result;
    }

    let queryVector: Float32Array;
    try {
      [[queryVector]] = await Promise.all([this.embedder.embed([request.query], options), this.backfill()]);
    } catch (error) {
      if (options?.signal?.aborted) throw error;
      const reason = `query embedding failed: ${(error as Error).message}`;
      this.logger.warn(`${reason}; answering lexically`);
      return { ...(await this.present('lexical', lexical.slice(0, topK), termSet)), degraded: reason };
    }
    const semantic = await this.index.vectorSearch(queryVector, FUSION_DEPTH, filter);
    return this.present('hybrid', reciprocalRankFusion([lexical, semantic]).slice(0, topK), termSet);
  }

  /**
   * Embeds up to one batch of documents stored without a vector (their indexing-time
   * embedding failed, or the model changed). One backfill at a time; never throws.
   */
  private backfill(): Promise<void> {
    this.backfilling ??= (async () => {
      const missing = await this.index.missingVectors(this.embedder.batchSize);
      if (missing.length === 0) return;
      try {
        const vectors = await this.embedder.embed(missing.map(embeddingInput));
        await this.index.attachVectors(missing.map((document, i) => ({ document, vector: vectors[i] })));
      } catch (error) {
        this.logger.warn(`backfilling ${missing.length} vectors failed: ${(error as Error).message}`);
      }
    })()
      // Finding what is missing can fail too (database down): the search goes on without the backfill.
      .catch((error: unknown) => this.logger.warn(`looking for documents without vectors failed: ${(error as Error).message}`))
      .finally(() => (this.backfilling = undefined));
    return this.backfilling;
  }

  /** The stored documents of these ids (unknown ones left out), in one round trip when the store can. */
  private async fetch(ids: readonly string[]): Promise<StoredDocument[]> {
    if (this.index.getMany) return this.index.getMany(ids);
    const documents = await Promise.all(ids.map((id) => this.index.get(id)));
    return documents.filter((document): document is StoredDocument => document !== undefined);
  }

  private async present(mode: SearchMode, ranked: ScoredId[], terms: ReadonlySet<string>): Promise<SearchResult> {
    const byId = new Map((await this.fetch(ranked.map(({ id }) => id))).map((document) => [document.id, document]));
    // A document deleted while the query was being embedded is skipped, not returned half-known.
    const hits = ranked.flatMap(({ id, score }) => {
      const document = byId.get(id);
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
