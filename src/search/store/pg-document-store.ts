import { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { DatabaseService } from '../../database/database.service';
import type { ScoredId } from '../index/bm25-index';
import sampleCorpus from '../sample-corpus.json';
import type { SearchConfig } from '../search.config';
import { documentNotFound, indexFull } from '../search.errors';
import type { DocumentMetadata, StoredDocument } from '../search.types';
import type { DocumentStore } from './document-store';

interface DocumentRow {
  id: string;
  title: string | null;
  text: string;
  metadata: DocumentMetadata;
  embedding_model: string | null;
  embedding?: string | null;
}

// pgvector's HNSW indexes `vector` up to 2 000 dimensions; past that, vector search is an exact scan.
const HNSW_MAX_DIMENSIONS = 2_000;

const toVectorLiteral = (vector: Float32Array) => `[${vector.join(',')}]`;

/**
 * Documents in PostgreSQL, shared by every replica (schema: migrations/001-documents.ts).
 * Lexical: the generated `search` tsvector (GIN) matched by the query's terms OR-ed
 * (`to_tsquery('simple', 'a | b')`, the service's tokenizer and stop words, as the embedded
 * store does; websearch_to_tsquery would AND them and a question would match nothing),
 * ranked by ts_rank_cd. Filters: `metadata @> filter` (jsonb containment: equal values, equal types).
 * Vectors (pgvector): one `embedding vector` column without a fixed dimension, tagged with
 * `embedding_model`; the HNSW index is a partial expression index per model and dimension,
 * `(embedding::vector(n)) WHERE embedding_model = '<model>'`, created when the first vector of
 * that model is stored — the dimension is only known then, and a model change needs no migration.
 */
export class PgDocumentStore implements DocumentStore {
  private readonly logger = new Logger('Search');
  private vectors = false;
  private vectorsReason?: string = 'the database is not ready yet';
  /** pgvector ≥ 0.8 can keep scanning an HNSW index until a filtered query has enough rows. */
  private iterativeScan = false;
  private readonly vectorIndexes = new Map<number, Promise<void>>();

  constructor(
    private readonly db: DatabaseService,
    private readonly config: SearchConfig,
  ) {
    db.addSetupStep({ name: 'documents', run: (client) => this.setup(client) });
  }

  vectorsUnavailable(): string | undefined {
    return this.vectors ? undefined : this.vectorsReason;
  }

  async get(id: string): Promise<StoredDocument | undefined> {
    const { rows } = await this.db.query<DocumentRow>(`SELECT ${this.columns()} FROM documents WHERE id = $1`, [id]);
    return rows[0] && this.toDocument(rows[0]);
  }

  async getMany(ids: readonly string[]): Promise<StoredDocument[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<DocumentRow>(`SELECT ${this.columns()} FROM documents WHERE id = ANY($1::text[])`, [ids]);
    return rows.map((row) => this.toDocument(row));
  }

  async assertCapacity(ids: readonly string[]): Promise<void> {
    const { rows } = await this.db.query<{ documents: number; existing: number }>(
      'SELECT (SELECT documents::int FROM document_store) AS documents, (SELECT count(*)::int FROM documents WHERE id = ANY($1::text[])) AS existing',
      [ids],
    );
    const adding = ids.length - rows[0].existing;
    if (rows[0].documents + adding > this.config.maxDocuments) throw indexFull(this.config.maxDocuments, rows[0].documents, adding);
  }

  /** One transaction: the rows, then the count checked against SEARCH_MAX_DOCUMENTS; past it, nothing is written. */
  async upsert(documents: StoredDocument[]): Promise<void> {
    const dimensions = documents.find((document) => document.vector)?.vector?.length;
    if (dimensions !== undefined && this.vectors) await this.ensureVectorIndex(dimensions);
    const withVectors = this.vectors;
    const input = JSON.stringify(
      documents.map((document) => ({
        id: document.id,
        title: document.title ?? null,
        text: document.text,
        metadata: document.metadata,
        ...(withVectors && document.vector && { embedding: toVectorLiteral(document.vector), embedding_model: this.config.embeddingModel ?? null }),
      })),
    );
    const embedding = withVectors ? { columns: ', embedding', values: ', embedding::vector', update: ', embedding = EXCLUDED.embedding' } : { columns: '', values: '', update: '' };
    await this.db.transaction(async (client) => {
      // Rows are locked in id order, so two batches sharing ids cannot deadlock.
      const { rows } = await client.query<{ inserted: boolean }>(
        `INSERT INTO documents (id, title, text, metadata, embedding_model${embedding.columns})
         SELECT id, title, text, coalesce(metadata, '{}'::jsonb), embedding_model${embedding.values}
         FROM jsonb_to_recordset($1::jsonb) AS t(id text, title text, text text, metadata jsonb, embedding_model text, embedding text)
         ORDER BY id
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, text = EXCLUDED.text, metadata = EXCLUDED.metadata,
           embedding_model = EXCLUDED.embedding_model${embedding.update}, updated_at = now()
         RETURNING (xmax = 0) AS inserted`,
        [input],
      );
      const adding = rows.filter((row) => row.inserted).length;
      if (adding > 0) await this.count(client, adding);
    });
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (client) => {
      const { rowCount } = await client.query('DELETE FROM documents WHERE id = $1', [id]);
      if (rowCount === 0) throw documentNotFound(id);
      await client.query('UPDATE document_store SET documents = documents - 1');
    });
  }

  async lexicalSearch(terms: readonly string[], limit: number, filter?: DocumentMetadata): Promise<ScoredId[]> {
    // The tokenizer's terms are runs of letters and digits: nothing in them is tsquery syntax.
    const query = [...new Set(terms)].join(' | ');
    if (query === '') return [];
    const { rows } = await this.db.query<ScoredId>(
      `SELECT id, ts_rank_cd(search, q, 1) AS score
       FROM documents, to_tsquery('simple', $1) AS q
       WHERE search @@ q ${filter ? 'AND metadata @> $3::jsonb' : ''}
       ORDER BY score DESC, id LIMIT $2`,
      filter ? [query, limit, JSON.stringify(filter)] : [query, limit],
    );
    return rows;
  }

  async vectorSearch(query: Float32Array, limit: number, filter?: DocumentMetadata): Promise<ScoredId[]> {
    if (!this.vectors || !this.config.embeddingModel) return [];
    const n = query.length;
    const sql = `SELECT id, 1 - (embedding::vector(${n}) <=> $1::vector(${n})) AS score
       FROM documents
       WHERE embedding_model = $2 AND embedding IS NOT NULL ${filter ? 'AND metadata @> $4::jsonb' : ''}
       ORDER BY embedding::vector(${n}) <=> $1::vector(${n}), id LIMIT $3`;
    const values = [toVectorLiteral(query), this.config.embeddingModel, limit, ...(filter ? [JSON.stringify(filter)] : [])];
    if (!filter || !this.iterativeScan) return (await this.db.query<ScoredId>(sql, values)).rows;
    return this.db.transaction(async (client) => {
      // An HNSW scan returns ef_search candidates before the filter: keep scanning until `limit` rows pass it.
      await client.query("SET LOCAL hnsw.iterative_scan = 'strict_order'");
      return (await client.query<ScoredId>(sql, values)).rows;
    });
  }

  async missingVectors(limit: number): Promise<StoredDocument[]> {
    const model = this.config.embeddingModel;
    if (!this.vectors || !model) return [];
    // `IS NULL OR < OR >` rather than `IS DISTINCT FROM`: each arm can use the btree on embedding_model.
    const { rows } = await this.db.query<DocumentRow>(
      `SELECT ${this.columns()} FROM documents WHERE embedding_model IS NULL OR embedding_model < $1 OR embedding_model > $1 LIMIT $2`,
      [model, limit],
    );
    return rows.map((row) => this.toDocument(row));
  }

  async attachVectors(embedded: { document: StoredDocument; vector: Float32Array }[]): Promise<void> {
    if (!this.vectors || embedded.length === 0) return;
    await this.ensureVectorIndex(embedded[0].vector.length);
    const input = embedded.map(({ document, vector }) => ({ id: document.id, title: document.title ?? null, text: document.text, embedding: toVectorLiteral(vector) }));
    // Only where the content is still what was embedded: a document replaced meanwhile keeps waiting for its own vector.
    await this.db.query(
      `UPDATE documents AS d SET embedding = v.embedding::vector, embedding_model = $2
       FROM jsonb_to_recordset($1::jsonb) AS v(id text, title text, text text, embedding text)
       WHERE d.id = v.id AND d.text = v.text AND d.title IS NOT DISTINCT FROM v.title`,
      [JSON.stringify(input), this.config.embeddingModel],
    );
  }

  /** Adds to the shared count under its row lock; rejects (rolling the batch back) past SEARCH_MAX_DOCUMENTS. */
  private async count(client: PoolClient, adding: number): Promise<void> {
    const { rows } = await client.query<{ documents: number }>('UPDATE document_store SET documents = documents + $1 RETURNING documents::int', [adding]);
    const documents = rows[0].documents;
    if (documents > this.config.maxDocuments) throw indexFull(this.config.maxDocuments, documents - adding, adding);
  }

  private columns(): string {
    return `id, title, text, metadata, embedding_model${this.vectors && this.config.embeddingModel ? ', embedding::text AS embedding' : ''}`;
  }

  private toDocument(row: DocumentRow): StoredDocument {
    // Another model's vector lives in another space: as good as none.
    const vector = row.embedding && row.embedding_model === this.config.embeddingModel ? new Float32Array(JSON.parse(row.embedding) as number[]) : undefined;
    return {
      id: row.id,
      ...(row.title !== null && { title: row.title }),
      text: row.text,
      metadata: row.metadata,
      ...(vector && { vector }),
    };
  }

  /** The HNSW index of this model and dimension; created once (replicas racing for it are fine: IF NOT EXISTS, then a lost race ignored). */
  private ensureVectorIndex(dimensions: number): Promise<void> {
    const model = this.config.embeddingModel;
    if (!model || dimensions > HNSW_MAX_DIMENSIONS) return Promise.resolve();
    let pending = this.vectorIndexes.get(dimensions);
    if (!pending) {
      const name = `documents_embedding_hnsw_${createHash('sha256').update(`${model}\n${dimensions}`).digest('hex').slice(0, 16)}`;
      const literal = `'${model.replaceAll("'", "''")}'`;
      pending = this.db
        .query(`CREATE INDEX IF NOT EXISTS ${name} ON documents USING hnsw ((embedding::vector(${dimensions})) vector_cosine_ops) WHERE embedding_model = ${literal}`)
        .then(() => undefined)
        .catch((error: { code?: string }) => {
          if (error.code === '23505' || error.code === '42P07') return; // another replica created it first
          this.vectorIndexes.delete(dimensions);
          throw error;
        });
      this.vectorIndexes.set(dimensions, pending);
    }
    return pending;
  }

  /** At every boot, after the migrations: pgvector if it can be had, and the sample corpus once. */
  private async setup(client: PoolClient): Promise<void> {
    await this.setupVectors(client);
    if (this.config.sampleCorpus) await this.seedSampleCorpus(client);
  }

  private async setupVectors(client: PoolClient): Promise<void> {
    const installed = async () =>
      (await client.query<{ version: string }>("SELECT extversion AS version FROM pg_extension WHERE extname = 'vector'")).rows[0]?.version;
    let version = await installed();
    if (!version) {
      const { rows } = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
      if (rows.length === 0) {
        this.vectorsReason = 'pgvector is not installed on the PostgreSQL server';
      } else {
        try {
          await client.query('CREATE EXTENSION IF NOT EXISTS vector');
          version = await installed();
        } catch (error) {
          this.vectorsReason = `CREATE EXTENSION vector failed (${(error as Error).message}); a superuser can run it once`;
        }
      }
    }
    if (version) {
      await client.query('ALTER TABLE documents ADD COLUMN IF NOT EXISTS embedding vector');
      const [major, minor] = version.split('.').map(Number);
      this.iterativeScan = major > 0 || minor >= 8;
      this.vectors = true;
      this.vectorsReason = undefined;
    } else if (this.config.embeddingModel) {
      this.logger.warn(`SEARCH_EMBEDDING_MODEL is set but ${this.vectorsReason}: search is lexical only (responses say mode "lexical")`);
    }
  }

  /** Only into a database that never had documents: once seeded (or used), what was deleted stays deleted. */
  private async seedSampleCorpus(client: PoolClient): Promise<void> {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ seeded: boolean; documents: number }>(
        'SELECT sample_seeded AS seeded, documents::int AS documents FROM document_store FOR UPDATE',
      );
      if (!rows[0].seeded && rows[0].documents === 0) {
        const input = sampleCorpus.map((entry) => ({ id: entry.id, title: entry.title ?? null, text: entry.text, metadata: entry.metadata ?? {} }));
        const inserted = await client.query(
          `INSERT INTO documents (id, title, text, metadata)
           SELECT id, title, text, metadata FROM jsonb_to_recordset($1::jsonb) AS t(id text, title text, text text, metadata jsonb)
           ON CONFLICT (id) DO NOTHING`,
          [JSON.stringify(input)],
        );
        await client.query('UPDATE document_store SET documents = documents + $1', [inserted.rowCount]);
        this.logger.log(`seeded the ${inserted.rowCount}-document sample corpus into PostgreSQL`);
      }
      if (!rows[0].seeded) await client.query('UPDATE document_store SET sample_seeded = true');
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}
