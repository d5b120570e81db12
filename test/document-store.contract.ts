/**
 * The documents/search contract both stores keep, through the HTTP API of the real app:
 * CRUD, ranking sanity, filters, topK, SEARCH_MAX_DOCUMENTS, errors, restart persistence,
 * concurrent writes, hybrid ranking. Used by embedded-store.e2e-spec.ts (no DATABASE_URL)
 * and postgres-store.e2e-spec.ts (DATABASE_URL on a private cluster).
 */
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { getJson, postJson, requestJson, routesTo, startService, type RunningService } from './support/service-harness';

/** The documents each contract test starts from; search.e2e-spec.ts indexes the same ones. */
export const CORPUS = [
  { id: 'pool', title: 'Connection pools', text: 'A connection pool keeps sockets open and lends them to requests. The pool caps concurrency.', metadata: { topic: 'http', lang: 'en' } },
  { id: 'keepalive', title: 'Keep-alive', text: 'HTTP keep-alive reuses a TCP connection for the next request. Idle sockets expire after a timeout.', metadata: { topic: 'http', lang: 'en' } },
  { id: 'tls', title: 'TLS handshakes', text: 'A TLS handshake costs round trips; session resumption skips the key exchange.', metadata: { topic: 'tls', lang: 'en' } },
  { id: 'gpu', title: 'Continuous batching', text: 'Serving engines batch requests on the GPU at every decoding step to raise throughput.', metadata: { topic: 'llm', lang: 'en' } },
  { id: 'pool-de', title: 'Verbindungspools', text: 'Ein Verbindungspool hält Sockets offen und verleiht sie an Anfragen.', metadata: { topic: 'http', lang: 'de' } },
  { id: 'kv', title: 'KV cache', text: 'The key value cache stores attention keys so each new token costs one decoding step.', metadata: { topic: 'llm', lang: 'en', year: 2024 } },
];

/** A store to run the contract against: the environment of a fresh, empty one per test. */
export interface StoreUnderTest {
  /** undefined: the engine is missing here (the fixture printed why); the tests pass vacuously. */
  fresh(): Promise<{ env: Record<string, string>; dispose(): Promise<void> } | undefined>;
  /** Whether the store keeps vectors (hybrid search). */
  vectors(): boolean;
}

const ids = (hits: { id: string }[]) => hits.map((hit) => hit.id);

export function documentStoreContract(store: StoreUnderTest): void {
  let simulator: UpstreamSimulator;
  let service: RunningService | undefined;
  let fixture: Awaited<ReturnType<StoreUnderTest['fresh']>>;
  let extraEnv: Record<string, string> = {};
  const url = (path: string) => `${service!.url}${path}`;

  async function boot(env: Record<string, string> = {}): Promise<void> {
    extraEnv = env;
    service = await startService({ ...routesTo(simulator), LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', SEARCH_SAMPLE_CORPUS: 'false', ...fixture!.env, ...env });
  }
  async function restart(env: Record<string, string> = extraEnv): Promise<void> {
    await service?.close();
    service = undefined;
    await boot(env);
  }
  const index = (documents: unknown[]) => postJson(url('/v1/documents'), { documents });
  const search = async (body: Record<string, unknown>) => (await postJson(url('/v1/search'), body)).json;
  const remove = (id: string) => requestJson('DELETE', url(`/v1/documents/${id}`));

  /** Runs `test` against a fresh store holding CORPUS; a no-op where the engine is missing. */
  const withCorpus = (env: Record<string, string>, test: () => Promise<void>) => async () => {
    fixture = await store.fresh();
    if (!fixture) return;
    await boot(env);
    const indexed = await index(CORPUS);
    expect(indexed.status).toBe(201);
    expect(indexed.json).toEqual({ indexed: CORPUS.length, ids: CORPUS.map((d) => d.id) });
    await test();
  };

  beforeEach(async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await simulator.stop();
    await fixture?.dispose();
    fixture = undefined;
  });

  describe('lexical', () => {
    it.each([
      ['tls handshake', 'tls'],
      ['How do engines raise GPU throughput?', 'gpu'],
      ['idle sockets timeout', 'keepalive'],
      ['pool', 'pool'],
      ['attention KEYS cache', 'kv'],
    ])('ranks the expected document first for %j, scores descending', (query, expected) =>
      withCorpus({}, async () => {
        const result = await search({ query });
        expect(result.mode).toBe('lexical');
        expect(result.degraded).toBeUndefined();
        expect(result.hits[0].id).toBe(expected);
        const scores = result.hits.map((hit: { score: number }) => hit.score);
        expect(scores).toEqual([...scores].sort((a, b) => b - a));
      })(),
    );

    it('answers the hit shape with a highlighted snippet and no full text', withCorpus({}, async () => {
      const { hits } = await search({ query: 'TLS handshake' });
      expect(hits).toHaveLength(1);
      expect(hits[0]).toEqual({
        id: 'tls',
        score: expect.any(Number),
        title: 'TLS handshakes',
        snippet: 'A **TLS** **handshake** costs round trips; session resumption skips the key exchange.',
        metadata: { topic: 'tls', lang: 'en' },
      });
      expect((await search({ query: 'the of and' })).hits).toEqual([]); // stop words only: nothing to match
    }));

    it('filters by metadata equality, value types included', withCorpus({}, async () => {
      expect(ids((await search({ query: 'sockets', filter: { lang: 'de' } })).hits)).toEqual(['pool-de']);
      expect(ids((await search({ query: 'sockets', filter: { lang: 'en', topic: 'http' } })).hits).sort()).toEqual(['keepalive', 'pool']);
      expect(ids((await search({ query: 'decoding step', filter: { year: 2024 } })).hits)).toEqual(['kv']);
      expect((await search({ query: 'decoding step', filter: { year: '2024' } })).hits).toEqual([]);
      expect((await search({ query: 'decoding step', filter: { missing: true } })).hits).toEqual([]);
    }));

    it('returns topK hits, 5 by default', withCorpus({}, async () => {
      await index(Array.from({ length: 12 }, (_, i) => ({ id: `extra-${i}`, text: `request number ${i}` })));
      expect((await search({ query: 'request' })).hits).toHaveLength(5);
      expect((await search({ query: 'request', topK: 9 })).hits).toHaveLength(9);
      expect((await search({ query: 'request', topK: 1 })).hits).toHaveLength(1);
    }));
  });

  describe('documents', () => {
    it('gets, upserts by id, deletes, then answers 404 NOT_FOUND', withCorpus({}, async () => {
      expect(await getJson(url('/v1/documents/tls'))).toMatchObject({ status: 200, json: { ...CORPUS[2], embedded: false } });

      expect((await index([{ id: 'tls', text: 'Certificates are checked against trusted roots.' }])).json).toEqual({ indexed: 1, ids: ['tls'] });
      expect((await search({ query: 'handshake' })).hits).toEqual([]);
      expect((await search({ query: 'certificates' })).hits[0].id).toBe('tls');
      expect((await getJson(url('/v1/documents/tls'))).json).toEqual({ id: 'tls', text: 'Certificates are checked against trusted roots.', metadata: {}, embedded: false });

      expect(await remove('tls')).toMatchObject({ status: 200, json: { id: 'tls', deleted: true } });
      expect((await search({ query: 'certificates' })).hits).toEqual([]);
      for (const response of [await getJson(url('/v1/documents/tls')), await remove('tls')]) {
        expect(response.status).toBe(404);
        expect(response.json.error).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'document "tls" not found' });
      }
    }));

    it('keeps every acknowledged document, and nothing deleted, across a restart', withCorpus({}, async () => {
      await remove('gpu');
      await restart();
      expect((await getJson(url('/v1/documents/kv'))).json).toEqual({ ...CORPUS[5], embedded: false });
      expect((await getJson(url('/v1/documents/gpu'))).status).toBe(404);
      expect((await search({ query: 'tls handshake' })).hits[0].id).toBe('tls');
    }));

    it('stores concurrent batches whole, none lost across a restart', withCorpus({}, async () => {
      const batches = Array.from({ length: 8 }, (_, b) =>
        Array.from({ length: 25 }, (_, i) => ({ id: `b${b}-d${i}`, text: `batch ${b} document ${i} about pooling`, metadata: { batch: b } })),
      );
      const statuses = await Promise.all(batches.map(async (batch) => (await index(batch)).status));
      expect(statuses).toEqual(batches.map(() => 201));
      await restart();
      for (const b of [0, 7]) expect((await search({ query: 'pooling', filter: { batch: b }, topK: 50 })).hits).toHaveLength(25);
    }));

    it('refuses a batch past SEARCH_MAX_DOCUMENTS with 409 INDEX_FULL, changing nothing', withCorpus({ SEARCH_MAX_DOCUMENTS: String(CORPUS.length + 1) }, async () => {
      const tooMany = await index([{ id: 'n1', text: 'one' }, { id: 'n2', text: 'two' }]);
      expect(tooMany.status).toBe(409);
      expect(tooMany.json.error).toMatchObject({ code: 'INDEX_FULL', details: { maxDocuments: 7, documents: 6, adding: 2 } });
      expect((await getJson(url('/v1/documents/n1'))).status).toBe(404);
      // Replacing is not adding; a deletion frees a place.
      expect((await index([{ id: 'pool', text: 'replacing is not adding' }, { id: 'n1', text: 'one' }])).status).toBe(201);
      expect((await index([{ id: 'n2', text: 'two' }])).status).toBe(409);
      await remove('n1');
      expect((await index([{ id: 'n2', text: 'two' }])).status).toBe(201);
    }));

    it('refuses concurrent batches that together pass SEARCH_MAX_DOCUMENTS: never more documents than the limit', withCorpus({ SEARCH_MAX_DOCUMENTS: '20' }, async () => {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, (_, b) => index(Array.from({ length: 4 }, (_, i) => ({ id: `c${b}-${i}`, text: `crowd ${b} ${i}` }))).then((r) => r.status)),
      );
      expect(statuses.filter((status) => status === 201)).toHaveLength(3); // 6 + 3 × 4 = 18; a fourth would make 22
      expect(statuses.filter((status) => status === 409)).toHaveLength(7);
      expect((await search({ query: 'crowd', topK: 50 })).hits).toHaveLength(12);
    }));

    it('stores nothing of a batch refused by validation', withCorpus({}, async () => {
      const refused = await index([{ id: 'ok', text: 'fine' }, { id: 'bad id', text: 'x' }]);
      expect(refused.status).toBe(400);
      expect((await getJson(url('/v1/documents/ok'))).status).toBe(404);
    }));
  });

  describe('hybrid, with an embeddings model', () => {
    const hybrid = { SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1', SEARCH_EMBEDDING_BATCH_SIZE: '4' };

    it('fuses lexical and vector rankings, and keeps vectors across a restart', withCorpus(hybrid, async () => {
      const result = await search({ query: 'tls handshake' });
      if (!store.vectors()) {
        // PostgreSQL without pgvector: lexical, saying why.
        expect(result.mode).toBe('lexical');
        expect(result.degraded).toMatch(/pgvector|vector/);
        return;
      }
      expect(result.mode).toBe('hybrid');
      expect(result.degraded).toBeUndefined();
      expect(result.hits[0]).toMatchObject({ id: 'tls', snippet: expect.stringContaining('**TLS** **handshake**') });
      expect(result.hits[0].score).toBeCloseTo(2 / 61, 10); // first in both rankings
      expect((await getJson(url('/v1/documents/gpu'))).json.embedded).toBe(true);
      const filtered = await search({ query: 'sockets', filter: { lang: 'de' } });
      expect(ids(filtered.hits)).toEqual(['pool-de']);

      const calls = () => simulator.counters().requestsByPath['/v1/embeddings'] ?? 0;
      await restart();
      const before = calls();
      expect((await getJson(url('/v1/documents/pool'))).json.embedded).toBe(true);
      await index([CORPUS[0]]); // unchanged: keeps its vector, no embeddings call
      expect(calls()).toBe(before);
    }));

    it('embeds documents stored without a vector at a later search', withCorpus({ SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1' }, async () => {
      if (!store.vectors()) return;
      simulator.setFaults({ status: 400, count: 1, path: '/embeddings' });
      const indexed = await index([{ id: 'late', text: 'written while the embeddings upstream refused' }]);
      expect(indexed.json.pendingEmbedding).toEqual(['late']);
      expect((await getJson(url('/v1/documents/late'))).json.embedded).toBe(false);
      expect((await search({ query: 'upstream refused' })).mode).toBe('hybrid');
      expect((await getJson(url('/v1/documents/late'))).json.embedded).toBe(true);
    }));
  });
}
