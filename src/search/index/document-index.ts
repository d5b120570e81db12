import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import sampleCorpus from '../sample-corpus.json';
import { searchConfig, type SearchConfig } from '../search.config';
import { documentNotFound, indexFull, indexWriteFailed, SearchDataDirError } from '../search.errors';
import type { DocumentMetadata, StoredDocument } from '../search.types';
import type { DocumentStore } from '../store/document-store';
import { Bm25Index, type ScoredId } from './bm25-index';
import { CommitQueue, type CommitOutcome } from './commit-queue';
import { encodeVector, IndexFileError, serializeDocument } from './index-store';
import { deleteOperation, JournalStore, putOperation, vectorOperation, type ReplayOperation } from './journal-store';
import { tokenize } from './tokenizer';
import { VectorIndex } from './vector-index';

type IndexChange =
  | { kind: 'upsert'; documents: StoredDocument[]; terms: string[][]; serialized: string[] }
  | { kind: 'delete'; id: string }
  // Vectors are derived data, already applied in memory (these documents): this only writes them down.
  | { kind: 'vectors'; documents: StoredDocument[] };

export function matchesFilter(metadata: DocumentMetadata, filter: DocumentMetadata | undefined): boolean {
  if (!filter) return true;
  for (const key of Object.keys(filter)) {
    if (!Object.hasOwn(metadata, key) || metadata[key] !== filter[key]) return false;
  }
  return true;
}

function termsOf(document: StoredDocument): string[] {
  return tokenize(document.title ? `${document.title}\n${document.text}` : document.text);
}

/** What a document takes in a snapshot: the room a compaction frees once it is replaced or deleted. */
const serializedBytes = (document: StoredDocument) => Buffer.byteLength(serializeDocument(document)) + 1;

/**
 * The documents, their BM25 and vector indexes, and the files they persist to.
 * A change is on disk before it is visible or acknowledged: a group commit appends
 * one journal record (journal-store.ts) and fdatasyncs it, then applies the change
 * in memory, so a failed write changes nothing and a search never sees a document
 * that might be lost. Each document is held once (the Map); the postings hold terms.
 */
@Injectable()
export class DocumentIndex implements DocumentStore, OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('Search');
  private readonly documents = new Map<string, StoredDocument>();
  private readonly lexical = new Bm25Index();
  private readonly vectors = new VectorIndex();
  /** Ids still waiting for a vector (only tracked when an embeddings model is configured). */
  private readonly unembedded = new Set<string>();
  private readonly store: JournalStore;
  private readonly queue = new CommitQueue<IndexChange>((changes) => this.commit(changes));

  constructor(@Inject(searchConfig.KEY) private readonly config: SearchConfig) {
    this.store = new JournalStore(config.dataDir, config.embeddingModel, () => [...this.documents.values()]);
  }

  private loading?: Promise<void>;

  /** Once: the instance is provided under two tokens (DocumentIndex, DOCUMENT_STORE), and Nest calls the hook for each. */
  onModuleInit(): Promise<void> {
    return (this.loading ??= this.load());
  }

  private async load(): Promise<void> {
    try {
      await this.store.prepare();
      const loaded = await this.store.load((operation, model) => this.replay(operation, model));
      if (loaded.found) {
        const torn = loaded.tornRecords > 0 ? `; ${loaded.tornRecords} torn record(s) dropped` : '';
        this.logger.log(
          `loaded ${this.documents.size} documents (${this.vectors.size} with vectors) from ${this.store.file} (${loaded.snapshotDocuments}) and ${loaded.journalRecords} journal record(s)${torn}`,
        );
        await this.store.compactIfDue();
      } else if (this.config.sampleCorpus) {
        await this.upsert(sampleCorpus.map((entry) => ({ id: entry.id, title: entry.title, text: entry.text, metadata: entry.metadata })));
        this.logger.log(`no index at ${this.store.file}: seeded the ${this.documents.size}-document sample corpus`);
      }
    } catch (error) {
      // A corrupt file says so itself; an OS error is about the directory the operator chose.
      if (error instanceof IndexFileError) throw error;
      throw new SearchDataDirError(this.config.dataDir, error);
    }
  }

  /** Writes still queued reach the disk before the process exits. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.queue.idle();
    await this.store.close();
  }

  get size(): number {
    return this.documents.size;
  }

  get(id: string): StoredDocument | undefined {
    return this.documents.get(id);
  }

  /** Refuses early (before any embedding is paid for) a batch that cannot fit; the commit checks again. */
  assertCapacity(ids: readonly string[]): void {
    const adding = ids.filter((id) => !this.documents.has(id)).length;
    if (this.documents.size + adding > this.config.maxDocuments) throw indexFull(this.config.maxDocuments, this.documents.size, adding);
  }

  /** Inserts or replaces documents by id; resolves once they are on disk. */
  upsert(documents: StoredDocument[]): Promise<void> {
    // Tokenized here, not in the commit, so the group commit's critical section stays short.
    return this.queue.submit({ kind: 'upsert', documents, terms: documents.map(termsOf), serialized: documents.map(serializeDocument) });
  }

  /** Deletes a document; resolves once the deletion is on disk, rejects with 404 for an unknown id. */
  remove(id: string): Promise<void> {
    if (!this.documents.has(id)) return Promise.reject(documentNotFound(id));
    return this.queue.submit({ kind: 'delete', id });
  }

  lexicalSearch(terms: readonly string[], limit: number, filter?: DocumentMetadata): ScoredId[] {
    return this.lexical.search(terms, limit, this.acceptor(filter));
  }

  vectorSearch(query: Float32Array, limit: number, filter?: DocumentMetadata): ScoredId[] {
    return this.vectors.search(query, limit, this.acceptor(filter));
  }

  /** Up to `limit` documents that have no vector yet. */
  missingVectors(limit: number): StoredDocument[] {
    const missing: StoredDocument[] = [];
    for (const id of this.unembedded) {
      if (missing.length >= limit) break;
      missing.push(this.documents.get(id)!);
    }
    return missing;
  }

  /**
   * Gives documents the vectors embedded for them, unless they were replaced or
   * deleted meanwhile; usable at once, written to disk in the background.
   */
  attachVectors(embedded: { document: StoredDocument; vector: Float32Array }[]): void {
    const attached: StoredDocument[] = [];
    for (const { document, vector } of embedded) {
      if (this.documents.get(document.id) !== document) continue;
      const withVector = { ...document, vector };
      this.put(withVector, undefined);
      attached.push(withVector);
    }
    if (attached.length === 0) return;
    this.queue.submit({ kind: 'vectors', documents: attached }).catch((error: unknown) => {
      // Only a cache of vectors is at stake: they are embedded again after a restart.
      this.logger.warn(`could not save ${attached.length} new vectors: ${(error as Error).message}`);
    });
  }

  private acceptor(filter: DocumentMetadata | undefined): ((id: string) => boolean) | undefined {
    if (!filter || Object.keys(filter).length === 0) return undefined;
    return (id) => matchesFilter(this.documents.get(id)!.metadata, filter);
  }

  /** Makes a document visible; `terms` undefined keeps its BM25 entry (only its vector changed). */
  private put(document: StoredDocument, terms: string[] | undefined): void {
    this.documents.set(document.id, document);
    if (terms) this.lexical.add(document.id, terms);
    if (document.vector) {
      this.vectors.set(document.id, document.vector);
      this.unembedded.delete(document.id);
    } else {
      this.vectors.remove(document.id);
      if (this.config.embeddingModel) this.unembedded.add(document.id);
    }
  }

  /** One operation read back at boot; vectors of another model live in another space and are dropped (re-embedded lazily). */
  private replay(operation: ReplayOperation, model: string | null): void {
    const keepVectors = model !== null && model === this.config.embeddingModel;
    if ('put' in operation) {
      const document = operation.put;
      this.put(keepVectors || !document.vector ? document : { ...document, vector: undefined }, termsOf(document));
    } else if ('del' in operation) {
      this.drop(operation.del);
    } else {
      const document = this.documents.get(operation.vec.id);
      if (document && keepVectors) this.put({ ...document, vector: operation.vec.vector }, undefined);
    }
  }

  private drop(id: string): void {
    this.documents.delete(id);
    this.lexical.remove(id);
    this.vectors.remove(id);
    this.unembedded.delete(id);
  }

  /** One group commit: decide each change against the state it will meet, append the result, then apply it. */
  private async commit(changes: IndexChange[]): Promise<CommitOutcome[]> {
    // id -> the document after this group (null: deleted), with the terms to index it by
    const overlay = new Map<string, { document: StoredDocument; terms: string[] } | null>();
    const current = (id: string) => (overlay.has(id) ? overlay.get(id) !== null : this.documents.has(id));
    const operations: string[] = [];
    let obsoleteBytes = 0;
    // The committed version a change supersedes becomes dead weight in the files.
    const supersede = (id: string) => {
      const committed = overlay.has(id) ? undefined : this.documents.get(id);
      if (committed) obsoleteBytes += serializedBytes(committed);
    };
    let size = this.documents.size;
    const outcomes = changes.map((change): CommitOutcome => {
      switch (change.kind) {
        case 'upsert': {
          const adding = change.documents.filter((document) => !current(document.id)).length;
          if (size + adding > this.config.maxDocuments) return indexFull(this.config.maxDocuments, size, adding);
          change.documents.forEach((document, index) => {
            supersede(document.id);
            overlay.set(document.id, { document, terms: change.terms[index] });
            operations.push(putOperation(change.serialized[index]));
          });
          size += adding;
          return undefined;
        }
        case 'delete':
          if (!current(change.id)) return documentNotFound(change.id);
          supersede(change.id);
          overlay.set(change.id, null);
          operations.push(deleteOperation(change.id));
          size--;
          return undefined;
        case 'vectors':
          for (const document of change.documents) {
            // Replaced or deleted since it was embedded (in memory, or earlier in this group): its vector is moot.
            if (overlay.has(document.id) || this.documents.get(document.id) !== document) continue;
            operations.push(vectorOperation(document.id, encodeVector(document.vector!)));
          }
          return undefined;
      }
    });
    if (operations.length === 0) return outcomes;

    try {
      await this.store.append({ operations, obsoleteBytes });
    } catch (error) {
      this.logger.error(`appending to the search index journal under ${this.config.dataDir} failed: ${(error as Error).message}`);
      throw indexWriteFailed(error);
    }

    for (const [id, next] of overlay) {
      if (next) this.put(next.document, next.terms);
      else this.drop(id);
    }
    await this.store.compactIfDue();
    return outcomes;
  }
}
