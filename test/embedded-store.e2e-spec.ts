import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentStoreContract } from './document-store.contract';

/** The documents contract on the embedded single-process store (no DATABASE_URL). */
describe('document store contract: embedded (SEARCH_DATA_DIR)', () => {
  documentStoreContract({
    vectors: () => true,
    fresh: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'store-contract-'));
      return { env: { SEARCH_DATA_DIR: join(dir, 'data') }, dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  });
});
