import type { ScoredId } from '../index/bm25-index';
import type { DocumentMetadata, StoredDocument } from '../search.types';

/** What a store answers synchronously in memory and asynchronously from a database. */
export type Awaitable<T> = T | Promise<T>;

/** Injection token of the DocumentStore that SearchService uses; search.module.ts picks the implementation. */
export const DOCUMENT_STORE = Symbol('DocumentStore');

/**
 * Where the documents, their lexical index and their vectors live: the embedded
 * single-process DocumentIndex (no DATABASE_URL) or PgDocumentStore (shared by a fleet).
 * Both keep the same API and errors: 404 NOT_FOUND for an unknown id, 409 INDEX_FULL past
 * SEARCH_MAX_DOCUMENTS, and a write resolves only once it is durable (acknowledged = committed).
 */
export interface DocumentStore {
  get(id: string): Awaitable<StoredDocument | undefined>;
  /** Several documents in one round trip, in no particular order, unknown ids left out (a database store has it). */
  getMany?(ids: readonly string[]): Promise<StoredDocument[]>;
  /** Refuses early (before embeddings are paid for) a batch that cannot fit; the write checks again. */
  assertCapacity(ids: readonly string[]): Awaitable<void>;
  /** Inserts or replaces documents by id, all or none; resolves once durable. */
  upsert(documents: StoredDocument[]): Promise<void>;
  /** Rejects with 404 for an unknown id. */
  remove(id: string): Promise<void>;
  /** Ids by lexical relevance to the query terms (tokenizer.ts), best first; `filter` keys must all equal. */
  lexicalSearch(terms: readonly string[], limit: number, filter?: DocumentMetadata): Awaitable<ScoredId[]>;
  /** Ids by closeness to an L2-normalised query vector, best first. */
  vectorSearch(query: Float32Array, limit: number, filter?: DocumentMetadata): Awaitable<ScoredId[]>;
  /** Up to `limit` documents without a vector of the current embeddings model. */
  missingVectors(limit: number): Awaitable<StoredDocument[]>;
  /** Stores vectors embedded for these documents, skipping any replaced or deleted meanwhile. */
  attachVectors(embedded: { document: StoredDocument; vector: Float32Array }[]): Awaitable<void>;
  /** Why this store cannot keep vectors (PostgreSQL without pgvector); undefined when it can. */
  vectorsUnavailable?(): string | undefined;
}
