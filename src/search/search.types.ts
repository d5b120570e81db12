/** Flat metadata: what a filter can match by equality. */
export type DocumentMetadata = Record<string, string | number | boolean>;

/** A document as indexed and persisted. Replaced, never mutated, so a reader holding one sees a consistent version. */
export interface StoredDocument {
  readonly id: string;
  readonly title?: string;
  readonly text: string;
  readonly metadata: DocumentMetadata;
  /** L2-normalised embedding of title + text; absent until embedded. */
  readonly vector?: Float32Array;
}

export interface SearchRequest {
  query: string;
  /** 1..50, default 5. */
  topK?: number;
  /** Every key must equal the document's metadata value (same type: "1" is not 1). */
  filter?: DocumentMetadata;
}

export type SearchMode = 'lexical' | 'hybrid';

export interface SearchHit {
  id: string;
  /** BM25 score in lexical mode, reciprocal-rank-fusion score in hybrid mode. */
  score: number;
  title?: string;
  text: string;
  /** A window of the text with the matched query terms wrapped in `**`. */
  snippet: string;
  metadata: DocumentMetadata;
}

export interface SearchResult {
  mode: SearchMode;
  /** Why a hybrid search answered lexically (the query could not be embedded). */
  degraded?: string;
  hits: SearchHit[];
}

export interface IndexResult {
  indexed: number;
  ids: string[];
  /** Ids stored without a vector because embedding failed; they are embedded lazily by later searches. */
  pendingEmbedding?: string[];
  /** Why some documents have no vector yet. */
  degraded?: string;
}

export const DEFAULT_TOP_K = 5;
export const MAX_TOP_K = 50;
