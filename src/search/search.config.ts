import { resolve } from 'node:path';
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from '../config/env-reader';

export interface SearchConfig {
  /** Absolute directory holding the persisted index (created at boot). */
  dataDir: string;
  /** `upstream/model` of an embeddings model; unset = lexical (BM25) search only. */
  embeddingModel?: string;
  /** Inputs per embeddings call when indexing. */
  embeddingBatchSize: number;
  /** Deadline of one embeddings call; past it a search answers lexically instead of waiting. */
  embeddingTimeoutMs: number;
  maxDocuments: number;
  /** Seed the bundled sample corpus when no index file exists yet. */
  sampleCorpus: boolean;
  /** Hard limit on checking one model reply against a caller's JSON Schema (on a worker thread). */
  schemaTimeoutMs: number;
}

export function parseSearchEnv(env: EnvReader): SearchConfig {
  return {
    dataDir: resolve(env.string('SEARCH_DATA_DIR', './var/search')),
    embeddingModel: env.raw('SEARCH_EMBEDDING_MODEL'),
    // 2048 is OpenAI's limit of inputs per embeddings request.
    embeddingBatchSize: env.int('SEARCH_EMBEDDING_BATCH_SIZE', 64, 1, 2_048, 'inputs per call'),
    embeddingTimeoutMs: env.int('SEARCH_EMBEDDING_TIMEOUT_MS', 10_000, 100, 600_000, 'ms'),
    maxDocuments: env.int('SEARCH_MAX_DOCUMENTS', 100_000, 1, 10_000_000, 'documents'),
    sampleCorpus: env.bool('SEARCH_SAMPLE_CORPUS', true),
    // A legitimate check takes milliseconds; a catastrophic pattern never ends, so the limit only has to tell them apart.
    schemaTimeoutMs: env.int('SEARCH_SCHEMA_TIMEOUT_MS', 1_000, 10, 60_000, 'ms'),
  };
}

export const searchConfig = registerAs('search', () => parseOrThrow(process.env, parseSearchEnv));
