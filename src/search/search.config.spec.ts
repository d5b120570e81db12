import { resolve } from 'node:path';
import { EnvReader } from '../config/env-reader';
import { validateEnv } from '../config/validate-env';
import { parseSearchEnv } from './search.config';

function parse(env: Record<string, string>) {
  const reader = new EnvReader(env);
  return { config: parseSearchEnv(reader), problems: reader.problems };
}

describe('search configuration', () => {
  it('has a default for every variable: lexical search over ./var/search, with the sample corpus', () => {
    expect(parse({})).toEqual({
      problems: [],
      config: {
        dataDir: resolve('var/search'),
        embeddingModel: undefined,
        embeddingBatchSize: 64,
        embeddingTimeoutMs: 10_000,
        maxDocuments: 100_000,
        sampleCorpus: true,
        schemaTimeoutMs: 1_000,
      },
    });
  });

  it('reads every variable', () => {
    const { config } = parse({
      SEARCH_DATA_DIR: '/srv/search',
      SEARCH_EMBEDDING_MODEL: 'openai/text-embedding-3-small',
      SEARCH_EMBEDDING_BATCH_SIZE: '128',
      SEARCH_EMBEDDING_TIMEOUT_MS: '2500',
      SEARCH_MAX_DOCUMENTS: '500',
      SEARCH_SAMPLE_CORPUS: 'off',
      SEARCH_SCHEMA_TIMEOUT_MS: '250',
    });
    expect(config).toEqual({
      dataDir: '/srv/search',
      embeddingModel: 'openai/text-embedding-3-small',
      embeddingBatchSize: 128,
      embeddingTimeoutMs: 2500,
      maxDocuments: 500,
      sampleCorpus: false,
      schemaTimeoutMs: 250,
    });
  });

  it('names every bad variable at boot, with the other areas', () => {
    expect(() =>
      validateEnv({ SEARCH_EMBEDDING_BATCH_SIZE: '4096', SEARCH_MAX_DOCUMENTS: 'many', SEARCH_SAMPLE_CORPUS: 'maybe' }),
    ).toThrow(
      [
        'SEARCH_EMBEDDING_BATCH_SIZE="4096": expected an integer from 1 to 2048 (inputs per call)',
        'SEARCH_MAX_DOCUMENTS="many": expected an integer from 1 to 10000000 (documents)',
        'SEARCH_SAMPLE_CORPUS="maybe": expected true or false',
      ].join('\n  - '),
    );
  });
});
