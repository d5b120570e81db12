import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import { ConfigValidationError } from '../src/config/env-reader';
import { DatabaseService } from '../src/database/database.service';
import { MIGRATIONS } from '../src/database/migrations';
import { migrationLabel, runMigrations } from '../src/database/migrator';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { documentStoreContract } from './document-store.contract';
import { startPostgres, type PostgresCluster } from './support/engines';
import { chat, eventually, getJson, postJson, routesTo, startService, type RunningService } from './support/service-harness';
import { freePort } from './support/spawn-service';

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

describe('PostgreSQL: migrations, outages, timeouts', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService | undefined;
  const url = (path: string) => `${service!.url}${path}`;
  const boot = async (env: Record<string, string>) => {
    service = await startService({ ...routesTo(simulator), LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', SEARCH_SAMPLE_CORPUS: 'false', ...env });
    return service;
  };
  const index = (documents: unknown[]) => postJson(url('/v1/documents'), { documents });

  beforeEach(async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await simulator.stop();
    if (pg) await pg.start().catch(() => undefined); // back up for the next test if one halted it
  });

  it('applies each migration once when two instances migrate together (advisory lock)', async () => {
    if (!pg) return;
    const database = await pg.createDatabase();
    const pool = new Pool({ connectionString: database, max: 4 });
    try {
      const reports = await Promise.all([runMigrations(pool, MIGRATIONS), runMigrations(pool, MIGRATIONS), runMigrations(pool, MIGRATIONS)]);
      expect(reports.flatMap((report) => report.applied).sort()).toEqual(MIGRATIONS.map(migrationLabel));
      expect(await pg.query('SELECT version, name FROM schema_migrations ORDER BY version', [], database)).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    } finally {
      await pool.end();
    }
  });

  it('`npm run db:migrate` applies the migrations alone, then finds nothing to do; without DATABASE_URL it fails saying so', async () => {
    if (!pg) return;
    const database = await pg.createDatabase();
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, '../src/database/migrate.ts')], {
          cwd: join(__dirname, '..'),
          env: { PATH: process.env.PATH ?? '', ...env },
        });
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.stderr.on('data', (chunk) => (output += chunk));
        child.on('exit', (code) => resolve({ code, output }));
      });
    const first = await run({ DATABASE_URL: database });
    expect(first).toMatchObject({ code: 0, output: expect.stringContaining('applied 001_documents') });
    expect(await run({ DATABASE_URL: database })).toMatchObject({ code: 0, output: expect.stringContaining('up to date') });
    const unset = await run({ DATABASE_URL: '' });
    expect(unset.code).toBe(1);
    expect(unset.output).toMatch(/DATABASE_URL/);
  }, 60_000);

  it('refuses to boot with a DATABASE_URL that is not postgres://, naming it without echoing it', async () => {
    const boot = startService({ DATABASE_URL: 'mysql://root:hunter2@db/x' });
    await expect(boot).rejects.toThrow(ConfigValidationError);
    await expect(startService({ DATABASE_URL: 'mysql://root:hunter2@db/x' })).rejects.toThrow(/DATABASE_URL="<redacted>": expected a postgres:\/\//);
    await expect(startService({ DATABASE_URL: 'mysql://root:hunter2@db/x' })).rejects.not.toThrow(/hunter2/);
  });

  it('boots degraded when the database is unreachable: chat served, documents 503, readiness says why; recovers by itself', async () => {
    if (!pg) return;
    const database = await pg.createDatabase();
    await pg.halt();
    await boot({ DATABASE_URL: database.replace('postgres://postgres@', 'postgres://postgres:hunter2@'), DATABASE_CONNECT_TIMEOUT_MS: '1000' });

    expect((await postJson(url('/v1/chat/completions'), chat('still here?', { model: 'sim/sim-1' }))).status).toBe(200);
    for (const response of [await index([{ id: 'a', text: 'alpha' }]), await postJson(url('/v1/search'), { query: 'alpha' }), await getJson(url('/v1/documents/a'))]) {
      expect(response.status).toBe(503);
      expect(response.json.error).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE', message: expect.stringMatching(/^the database is unavailable: not ready \(.*ECONNREFUSED/) });
      expect(response.headers.get('retry-after')).toBe('1');
    }
    // Degraded, not unready: every replica shares the database, and chat does not need it.
    const ready = await getJson(url('/health/ready'));
    expect(ready.status).toBe(200);
    expect(ready.json.info.database).toMatchObject({ status: 'up', available: false, reason: expect.stringContaining('ECONNREFUSED'), ready: false, pool: { max: 10 } });
    expect(ready.text).not.toContain('hunter2');
    expect(service!.app.get(DatabaseService).snapshot()).toMatchObject({ enabled: true, ready: false, reason: expect.stringContaining('ECONNREFUSED') });

    await pg.start();
    // Migrations are retried in the background (1 s, 2 s, 4 s, ...): no restart needed.
    await eventually(async () => expect((await index([{ id: 'a', text: 'alpha' }])).status).toBe(201), 20_000, 250);
    expect((await postJson(url('/v1/search'), { query: 'alpha' })).json.hits[0].id).toBe('a');
    const recovered = await getJson(url('/health/ready'));
    expect(recovered.status).toBe(200);
    expect(recovered.json.info.database).toMatchObject({ status: 'up', available: true, ready: true });
  }, 40_000);

  it('answers 503 within its timeouts while PostgreSQL is down mid-run, and recovers when it returns', async () => {
    if (!pg) return;
    await boot({ DATABASE_URL: await pg.createDatabase(), DATABASE_CONNECT_TIMEOUT_MS: '1000' });
    expect((await index([{ id: 'kept', text: 'written before the outage' }])).status).toBe(201);

    await pg.halt();
    const started = Date.now();
    const during = await Promise.all([
      index([{ id: 'lost', text: 'written during the outage' }]),
      postJson(url('/v1/search'), { query: 'outage' }),
      getJson(url('/v1/documents/kept')),
      postJson(url('/v1/chat/completions'), chat('and chat?', { model: 'sim/sim-1' })),
    ]);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(during.slice(0, 3).map((response) => [response.status, response.json.error.code])).toEqual([
      [503, 'DATABASE_UNAVAILABLE'],
      [503, 'DATABASE_UNAVAILABLE'],
      [503, 'DATABASE_UNAVAILABLE'],
    ]);
    expect(during[3].status).toBe(200);
    const ready = await getJson(url('/health/ready'));
    expect(ready.status).toBe(200);
    expect(ready.json.info.database).toMatchObject({ available: false, reason: expect.any(String) });

    await pg.start();
    await eventually(async () => expect((await getJson(url('/v1/documents/kept'))).status).toBe(200), 10_000, 200);
    expect((await getJson(url('/v1/documents/lost'))).status).toBe(404); // refused, so not written
    expect((await getJson(url('/health/ready'))).json.info.database.available).toBe(true);
  }, 40_000);

  it('gives up on a statement past DATABASE_STATEMENT_TIMEOUT_MS with 503 instead of hanging', async () => {
    if (!pg) return;
    const database = await pg.createDatabase();
    await boot({ DATABASE_URL: database, DATABASE_STATEMENT_TIMEOUT_MS: '500' });
    expect((await index([{ id: 'a', text: 'alpha' }])).status).toBe(201);
    // Another session holds the table: every statement on it waits for the lock.
    const { Client } = await import('pg');
    const blocker = new Client({ connectionString: database });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE documents IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const response = await postJson(url('/v1/search'), { query: 'alpha' });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(response.status).toBe(503);
      expect(response.json.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', message: expect.stringContaining('DATABASE_STATEMENT_TIMEOUT_MS') });
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect((await postJson(url('/v1/search'), { query: 'alpha' })).status).toBe(200);
  });

  it('seeds the sample corpus once: what was deleted stays deleted across restarts', async () => {
    if (!pg) return;
    const database = await pg.createDatabase();
    await boot({ DATABASE_URL: database, SEARCH_SAMPLE_CORPUS: 'true' });
    expect((await postJson(url('/v1/search'), { query: 'server closes an idle connection ECONNRESET race' })).json.hits[0].id).toBe('keepalive-race');
    expect((await postJson(url('/v1/documents'), { documents: [{ id: 'x', text: 'x' }] })).status).toBe(201);
    await fetch(url('/v1/documents/keepalive-race'), { method: 'DELETE' });
    await service!.close();
    await boot({ DATABASE_URL: database, SEARCH_SAMPLE_CORPUS: 'true' });
    expect((await getJson(url('/v1/documents/keepalive-race'))).status).toBe(404);
    expect((await getJson(url('/v1/documents/tls-handshake'))).status).toBe(200);
  });

  it('searches lexically, saying why, when the role may not create the pgvector extension', async () => {
    if (!pg) return;
    // A database without the extension, owned by a role that is not a superuser.
    const name = `novector_${await freePort()}`;
    await pg.query(`CREATE ROLE ${name} LOGIN`);
    await pg.query(`CREATE DATABASE ${name} OWNER ${name} TEMPLATE template0`);
    const database = `postgres://${name}@127.0.0.1:${pg.port}/${name}`;
    await boot({ DATABASE_URL: database, SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1' });
    expect((await index([{ id: 'tls', text: 'A TLS handshake costs round trips.' }])).json).toEqual({ indexed: 1, ids: ['tls'] });
    expect(simulator.counters().requestsByPath['/v1/embeddings'] ?? 0).toBe(0); // no vectors to keep: none paid for
    const result = (await postJson(url('/v1/search'), { query: 'tls handshake' })).json;
    expect(result).toMatchObject({ mode: 'lexical', degraded: expect.stringMatching(/CREATE EXTENSION vector failed|pgvector is not installed/), hits: [{ id: 'tls' }] });
    expect((await getJson(url('/v1/documents/tls'))).json.embedded).toBe(false);
  });

  it('keeps vectors in pgvector with an HNSW index for the model, used by the vector ranking', async () => {
    if (!pg?.vector) return;
    const database = await pg.createDatabase();
    await boot({ DATABASE_URL: database, SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1' });
    expect((await index([{ id: 'tls', text: 'A TLS handshake costs round trips.' }, { id: 'gpu', text: 'Engines batch requests on the GPU.' }])).status).toBe(201);
    const [row] = await pg.query<{ model: string; dimensions: number }>('SELECT embedding_model AS model, vector_dims(embedding) AS dimensions FROM documents LIMIT 1', [], database);
    expect(row.model).toBe('sim/sim-embed-1');
    const indexes = await pg.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'documents_embedding_hnsw_%'", [], database);
    expect(indexes).toEqual([{ indexdef: expect.stringMatching(new RegExp(`USING hnsw \\(\\(\\(embedding\\)::vector\\(${row.dimensions}\\)\\) vector_cosine_ops\\) WHERE \\(embedding_model = 'sim/sim-embed-1'::text\\)`)) }]);
    // The store's query shape, planned over enough vectors that the index pays (rows past the count: this is the planner's view only).
    await pg.query(
      `INSERT INTO documents (id, text, embedding_model, embedding)
       SELECT 'r' || i, 'random', 'sim/sim-embed-1', ARRAY(SELECT random() + i * 0 FROM generate_series(1, ${row.dimensions}))::vector
       FROM generate_series(1, 2500) AS i; ANALYZE documents`,
      undefined,
      database,
    );
    const query = `[${Array.from({ length: row.dimensions }, () => 0.1).join(',')}]`;
    const { Client } = await import('pg');
    const client = new Client({ connectionString: database });
    await client.connect();
    let plan: string;
    try {
      const explained = await client.query(
        `EXPLAIN SELECT id FROM documents WHERE embedding_model = $2 AND embedding IS NOT NULL ORDER BY embedding::vector(${row.dimensions}) <=> $1::vector(${row.dimensions}) LIMIT 100`,
        [query, 'sim/sim-embed-1'],
      );
      plan = explained.rows.map((line) => line['QUERY PLAN']).join('\n');
    } finally {
      await client.end();
    }
    expect(plan).toMatch(/Index Scan using documents_embedding_hnsw_/);
  });

  it('reports its pool: max, open, idle, waiting', async () => {
    if (!pg) return;
    await boot({ DATABASE_URL: await pg.createDatabase(), DATABASE_POOL_MAX: '3' });
    await Promise.all(Array.from({ length: 6 }, (_, i) => index([{ id: `d${i}`, text: `document ${i}` }])));
    const { ready, pool } = service!.app.get(DatabaseService).snapshot();
    expect(ready).toBe(true);
    expect(pool).toEqual({ max: 3, total: expect.any(Number), idle: expect.any(Number), waiting: 0 });
    expect(pool.total).toBeGreaterThanOrEqual(1);
    expect(pool.total).toBeLessThanOrEqual(3);
    // The same numbers, to an operator: /v1/llm/stats and /metrics.
    expect((await getJson(url('/v1/llm/stats'))).json.database).toEqual({ enabled: true, ready: true, pool: { max: 3, total: expect.any(Number), idle: expect.any(Number), waiting: 0 } });
    const metrics = await (await fetch(url('/metrics'))).text();
    expect(metrics).toContain('llm_database_available 1');
    expect(metrics).toMatch(/^llm_database_pool_connections\{state="total"\} [123]$/m);
    expect(metrics).toContain('llm_database_pool_connections{state="waiting"} 0');
  });
});
