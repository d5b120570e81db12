import { documentStoreContract } from './document-store.contract';
import { startPostgres, type PostgresCluster } from './support/engines';

let pg: PostgresCluster | undefined;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

/** The documents contract on PostgreSQL: each test on a fresh database of a private cluster. */
describe('document store contract: PostgreSQL (DATABASE_URL)', () => {
  documentStoreContract({
    vectors: () => pg?.vector ?? false,
    fresh: async () => (pg ? { env: { DATABASE_URL: await pg.createDatabase() }, dispose: async () => undefined } : undefined),
  });
});
