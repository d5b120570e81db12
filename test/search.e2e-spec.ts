import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError } from '../src/config/env-reader';
import { DocumentIndex } from '../src/search/index/document-index';
import { readIndexedIds } from '../src/search/index/journal-store';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { CORPUS } from './document-store.contract';
import { getJson, postJson, requestJson, routesTo, startService, type RunningService } from './support/service-harness';

async function deleteJson(url: string) {
  const { status, json } = await requestJson('DELETE', url);
  return { status, json };
}

/** The ids in the index files (snapshot and journal), read straight from disk by a reader of its own. */
async function idsOnDisk(dataDir: string): Promise<string[]> {
  return readIndexedIds(dataDir);
}

describe('search', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService | undefined;
  let dataDir: string;
  const url = (path: string) => `${service!.url}${path}`;
  const embeddingCalls = () => simulator.counters().requestsByPath['/v1/embeddings'] ?? 0;
  const chatCalls = () => simulator.counters().requestsByPath['/v1/chat/completions'] ?? 0;

  async function boot(env: Record<string, string> = {}): Promise<RunningService> {
    service = await startService({
      ...routesTo(simulator),
      LLM_PROVIDER: 'sim',
      LLM_MODEL: 'sim-1',
      SEARCH_DATA_DIR: dataDir,
      SEARCH_SAMPLE_CORPUS: 'false',
      ...env,
    });
    return service;
  }

  async function restart(env: Record<string, string> = {}): Promise<void> {
    await service?.close();
    service = undefined;
    await boot(env);
  }

  const index = (documents: unknown[]) => postJson(url('/v1/documents'), { documents });
  const search = (body: Record<string, unknown>) => postJson(url('/v1/search'), body);
  const structured = (body: Record<string, unknown>) => postJson(url('/v1/search/structured'), body);

  beforeEach(async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
    dataDir = join(await mkdtemp(join(tmpdir(), 'search-e2e-')), 'data');
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await simulator.stop();
    await rm(join(dataDir, '..'), { recursive: true, force: true });
  });

  describe('lexical (BM25), no embeddings model', () => {
    beforeEach(async () => {
      await boot();
      const response = await index(CORPUS);
      expect(response.status).toBe(201);
      expect(response.json).toEqual({ indexed: CORPUS.length, ids: CORPUS.map((d) => d.id) });
    });

    it.each([
      ['tls handshake', 'tls'],
      ['How do engines raise GPU throughput?', 'gpu'],
      ['idle sockets timeout', 'keepalive'],
      ['pool', 'pool'],
      ['attention KEYS cache', 'kv'],
    ])('ranks the expected document first for %j', async (query, expected) => {
      const response = await search({ query });
      expect(response.status).toBe(200);
      expect(response.json.mode).toBe('lexical');
      expect(response.json.degraded).toBeUndefined();
      expect(response.json.hits[0].id).toBe(expected);
      const scores = response.json.hits.map((hit: { score: number }) => hit.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    });

    it('answers with the hit shape: id, score, title, highlighted snippet, metadata; no full text', async () => {
      const { json } = await search({ query: 'TLS handshake' });
      expect(json.hits).toHaveLength(1);
      expect(json.hits[0]).toEqual({
        id: 'tls',
        score: expect.any(Number),
        title: 'TLS handshakes',
        snippet: 'A **TLS** **handshake** costs round trips; session resumption skips the key exchange.',
        metadata: { topic: 'tls', lang: 'en' },
      });
    });

    it('filters by metadata equality, value types included', async () => {
      const german = await search({ query: 'sockets', filter: { lang: 'de' } });
      expect(german.json.hits.map((hit: { id: string }) => hit.id)).toEqual(['pool-de']);
      const english = await search({ query: 'sockets', filter: { lang: 'en', topic: 'http' } });
      expect(english.json.hits.map((hit: { id: string }) => hit.id).sort()).toEqual(['keepalive', 'pool']);
      expect((await search({ query: 'decoding step', filter: { year: 2024 } })).json.hits.map((hit: { id: string }) => hit.id)).toEqual(['kv']);
      expect((await search({ query: 'decoding step', filter: { year: '2024' } })).json.hits).toEqual([]);
    });

    it('returns topK hits, 5 by default', async () => {
      await index(Array.from({ length: 12 }, (_, i) => ({ id: `extra-${i}`, text: `request number ${i}` })));
      expect((await search({ query: 'request' })).json.hits).toHaveLength(5);
      expect((await search({ query: 'request', topK: 9 })).json.hits).toHaveLength(9);
      expect((await search({ query: 'request', topK: 1 })).json.hits).toHaveLength(1);
    });

    it('gets a document, upserts it by id, deletes it, then answers 404', async () => {
      const got = await getJson(url('/v1/documents/tls'));
      expect(got.status).toBe(200);
      expect(got.json).toEqual({ ...CORPUS[2], embedded: false });

      const replaced = await index([{ id: 'tls', text: 'Certificates are checked against trusted roots.' }]);
      expect(replaced.json).toEqual({ indexed: 1, ids: ['tls'] });
      expect((await search({ query: 'handshake' })).json.hits).toEqual([]);
      expect((await search({ query: 'certificates' })).json.hits[0].id).toBe('tls');
      expect((await getJson(url('/v1/documents/tls'))).json).toEqual({ id: 'tls', text: 'Certificates are checked against trusted roots.', metadata: {}, embedded: false });

      const deleted = await deleteJson(url('/v1/documents/tls'));
      expect(deleted).toEqual({ status: 200, json: { id: 'tls', deleted: true } });
      expect((await search({ query: 'certificates' })).json.hits).toEqual([]);
      for (const response of [await getJson(url('/v1/documents/tls')), await deleteJson(url('/v1/documents/tls'))]) {
        expect(response.status).toBe(404);
        expect(response.json.error).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'document "tls" not found' });
      }
      expect(await idsOnDisk(dataDir)).not.toContain('tls');
    });

    it('keeps every acknowledged document across a restart', async () => {
      await deleteJson(url('/v1/documents/gpu'));
      await restart();
      expect((await getJson(url('/v1/documents/kv'))).json).toEqual({ ...CORPUS[5], embedded: false });
      expect((await getJson(url('/v1/documents/gpu'))).status).toBe(404);
      expect(service!.app.get(DocumentIndex).size).toBe(CORPUS.length - 1);
      const { json } = await search({ query: 'tls handshake' });
      expect(json.hits[0].id).toBe('tls'); // BM25 statistics rebuilt at load
    });

    it('persists concurrent batches, none lost, each on disk before it is acknowledged', async () => {
      const batches = Array.from({ length: 12 }, (_, b) =>
        Array.from({ length: 25 }, (_, i) => ({ id: `b${b}-d${i}`, text: `batch ${b} document ${i} about pooling`, metadata: { batch: b } })),
      );
      const responses = await Promise.all(
        batches.map(async (batch) => {
          const response = await index(batch);
          // Acknowledged means written: the file holds this batch the moment its answer arrives.
          const onDisk = new Set(await idsOnDisk(dataDir));
          return { status: response.status, persisted: batch.every((document) => onDisk.has(document.id)) };
        }),
      );
      expect(responses).toEqual(batches.map(() => ({ status: 201, persisted: true })));
      const expected = CORPUS.length + 12 * 25;
      expect(new Set(await idsOnDisk(dataDir)).size).toBe(expected);

      await restart();
      expect(service!.app.get(DocumentIndex).size).toBe(expected);
      const { json } = await search({ query: 'pooling', filter: { batch: 7 }, topK: 50 });
      expect(json.hits).toHaveLength(25);
    });

    it('refuses a batch that would exceed SEARCH_MAX_DOCUMENTS with 409, changing nothing', async () => {
      await restart({ SEARCH_MAX_DOCUMENTS: String(CORPUS.length + 1) });
      const tooMany = await index([{ id: 'n1', text: 'one' }, { id: 'n2', text: 'two' }]);
      expect(tooMany.status).toBe(409);
      expect(tooMany.json.error).toMatchObject({ code: 'INDEX_FULL', details: { maxDocuments: 7, documents: 6, adding: 2 } });
      expect((await getJson(url('/v1/documents/n1'))).status).toBe(404);
      expect((await index([{ id: 'pool', text: 'replacing is not adding' }, { id: 'n1', text: 'one' }])).status).toBe(201);
    });
  });

  describe('hybrid, with an embeddings model', () => {
    const hybridEnv = { SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1', SEARCH_EMBEDDING_BATCH_SIZE: '4' };

    it('embeds documents in batches of SEARCH_EMBEDDING_BATCH_SIZE and fuses both rankings', async () => {
      await boot(hybridEnv);
      expect((await index(CORPUS)).status).toBe(201);
      expect(embeddingCalls()).toBe(Math.ceil(CORPUS.length / 4)); // 6 documents, 4 per call: 2 calls
      expect((await getJson(url('/v1/documents/gpu'))).json.embedded).toBe(true);

      const response = await search({ query: 'tls handshake' });
      expect(response.status).toBe(200);
      expect(response.json.mode).toBe('hybrid');
      expect(response.json.degraded).toBeUndefined();
      expect(response.json.hits[0]).toMatchObject({ id: 'tls', snippet: expect.stringContaining('**TLS** **handshake**') });
      // 1/(60+1) from each ranking: the document both rankings put first.
      expect(response.json.hits[0].score).toBeCloseTo(2 / 61, 10);
      expect(embeddingCalls()).toBe(3); // plus one for the query

      // An unchanged document keeps its vector: re-posting it costs no embeddings call.
      await index([CORPUS[0]]);
      expect(embeddingCalls()).toBe(3);
    });

    it('falls back to lexical search, saying why, when the embeddings upstream is down', async () => {
      await boot(hybridEnv);
      await index(CORPUS);
      await simulator.stop();

      const response = await search({ query: 'idle sockets timeout' });
      expect(response.status).toBe(200);
      expect(response.json.mode).toBe('lexical');
      expect(response.json.degraded).toMatch(/^query embedding failed: upstream "sim"/);
      expect(response.json.hits[0].id).toBe('keepalive');

      // Indexing still works: stored and searchable lexically, reported as pending.
      const indexed = await index([{ id: 'late', text: 'written while the upstream was down' }]);
      expect(indexed.status).toBe(201);
      expect(indexed.json).toMatchObject({ indexed: 1, ids: ['late'], pendingEmbedding: ['late'], degraded: expect.stringMatching(/^embedding failed/) });
      expect((await getJson(url('/v1/documents/late'))).json.embedded).toBe(false);
      expect((await search({ query: 'upstream down' })).json.hits[0].id).toBe('late');
    });

    it('embeds documents whose indexing-time embedding failed at the next search, and keeps those vectors', async () => {
      await boot({ SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1' });
      // 400: an error the upstream client does not retry
      simulator.setFaults({ status: 400, count: 1, path: '/embeddings' });
      const indexed = await index(CORPUS.slice(0, 3));
      expect(indexed.json.pendingEmbedding).toEqual(['pool', 'keepalive', 'tls']);
      expect(embeddingCalls()).toBe(1);

      const response = await search({ query: 'tls handshake' });
      expect(response.json.mode).toBe('hybrid');
      expect(response.json.hits[0].id).toBe('tls');
      expect(response.json.hits[0].score).toBeCloseTo(2 / 61, 10); // the backfilled vectors took part
      expect(embeddingCalls()).toBe(3); // the query and one backfill batch
      expect((await getJson(url('/v1/documents/pool'))).json.embedded).toBe(true);

      await restart({ SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1' });
      expect((await getJson(url('/v1/documents/pool'))).json.embedded).toBe(true);
      await search({ query: 'tls handshake' });
      expect(embeddingCalls()).toBe(4); // only the query this time

      // Another model's vectors are another space: dropped at load, embedded again lazily.
      await restart({ SEARCH_EMBEDDING_MODEL: 'sim/other-embed' });
      expect((await getJson(url('/v1/documents/pool'))).json.embedded).toBe(false);
    });
  });

  describe('structured output', () => {
    beforeEach(async () => {
      await boot();
      await index(CORPUS);
      simulator.resetCounters();
    });

    it('answers JSON valid against the default schema, citing the hits', async () => {
      const response = await structured({ query: 'What does a TLS handshake cost?' });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({
        data: { answer: 'A TLS handshake costs round trips; session resumption skips the key exchange. [tls]', citations: ['tls'] },
        hits: [{ id: 'tls', score: expect.any(Number) }],
        mode: 'lexical',
        model: 'sim-1',
        upstream: 'sim',
        attempts: 1,
      });
      expect(chatCalls()).toBe(1);
    });

    it('validates against a caller schema and uses the model asked for', async () => {
      const schema = {
        type: 'object',
        required: ['answer', 'citations'],
        properties: {
          answer: { type: 'string', minLength: 10, maxLength: 2000 },
          citations: { type: 'array', minItems: 1, items: { enum: CORPUS.map((d) => d.id) } },
        },
      };
      const response = await structured({ query: 'Which engines batch requests on the GPU?', schema, model: 'sim/sim-1', topK: 3 });
      expect(response.status).toBe(200);
      expect(response.json.data.answer).toContain('Serving engines batch requests on the GPU at every decoding step');
      expect(response.json.data.citations).toContain('gpu');
      expect(response.json.hits[0].id).toBe('gpu');
      expect(response.json.hits.length).toBeLessThanOrEqual(3);
      expect(response.json).toMatchObject({ model: 'sim-1', upstream: 'sim', attempts: 1 });
    });

    it('retries once after a malformed reply, telling the model what was wrong', async () => {
      simulator.setFaults({ replyText: 'not json', count: 1, path: '/chat/completions' });
      const response = await structured({ query: 'What does a TLS handshake cost?' });
      expect(response.status).toBe(200);
      expect(response.json.attempts).toBe(2);
      expect(response.json.data.citations).toEqual(['tls']);
      expect(chatCalls()).toBe(2);
    });

    it('fails with 502 INVALID_OUTPUT after two malformed replies', async () => {
      simulator.setFaults({ replyText: 'not json', count: 2, path: '/chat/completions' });
      const response = await structured({ query: 'What does a TLS handshake cost?' });
      expect(response.status).toBe(502);
      expect(response.json.error).toMatchObject({ status: 502, code: 'INVALID_OUTPUT', upstream: 'sim' });
      expect(response.json.error.details).toMatchObject({ attempts: 2, reply: 'not json', errors: [{ path: '', message: expect.stringMatching(/^not valid JSON/) }] });
      expect(chatCalls()).toBe(2);
    });

    it('fails with 502 INVALID_OUTPUT and ajv errors when replies never match the schema', async () => {
      const schema = { type: 'object', required: ['summary'], properties: { summary: { type: 'string' } } };
      const response = await structured({ query: 'What does a TLS handshake cost?', schema });
      expect(response.status).toBe(502);
      expect(response.json.error.code).toBe('INVALID_OUTPUT');
      expect(response.json.error.details.errors).toEqual([{ path: '', message: "must have required property 'summary'" }]);
      expect(chatCalls()).toBe(2);
    });

    it('passes an upstream error through with its status', async () => {
      // 400: an error the upstream client does not retry
      simulator.setFaults({ status: 400, count: 1, path: '/chat/completions' });
      const response = await structured({ query: 'What does a TLS handshake cost?' });
      expect(response.status).toBe(400);
      expect(response.json.error).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'sim' });
    });

    it.each([
      ['an invalid schema', { type: 'strng' }, /^schema is not a valid JSON Schema: schema is invalid: data\/type must be equal to one of the allowed values/],
      ['an unresolvable $ref', { $ref: 'https://example.com/schema.json' }, /^schema is not a valid JSON Schema: can't resolve reference/],
      ['an unbounded pattern', { type: 'string', pattern: '^(a+)+$' }, /^schema is not safe to run on model output/],
      ['an $async schema', { $async: true, type: 'object' }, /^schema must not be \$async/],
    ])('refuses %s with 400 before calling the model', async (_, schema, message) => {
      const response = await structured({ query: 'tls', schema });
      expect(response.status).toBe(400);
      expect(response.json.error).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: expect.stringMatching(message) });
      expect(response.json.error.details.fields[0].field).toBe('schema');
      expect(chatCalls()).toBe(0);
    });
  });

  describe('input validation', () => {
    beforeEach(() => boot());

    const doc = (extra: Record<string, unknown> = {}) => ({ id: 'd1', text: 'some text', ...extra });

    it.each([
      ['/v1/documents', 'no documents', {}, 'documents'],
      ['/v1/documents', 'a bare array', [doc()], 'documents'],
      ['/v1/documents', 'an empty batch', { documents: [] }, 'documents'],
      ['/v1/documents', 'a batch over 1000', { documents: Array.from({ length: 1001 }, (_, i) => doc({ id: `d${i}` })) }, 'documents'],
      ['/v1/documents', 'a repeated id', { documents: [doc(), doc()] }, 'documents'],
      ['/v1/documents', 'a missing id', { documents: [{ text: 'x' }] }, 'documents[0].id'],
      ['/v1/documents', 'an id with a slash', { documents: [doc({ id: 'a/b' })] }, 'documents[0].id'],
      ['/v1/documents', 'a numeric text', { documents: [doc({ text: 42 })] }, 'documents[0].text'],
      ['/v1/documents', 'an empty text', { documents: [doc({ text: '' })] }, 'documents[0].text'],
      ['/v1/documents', 'a text over 100 KB', { documents: [doc({ text: 'é'.repeat(51_201) })] }, 'documents[0].text'],
      ['/v1/documents', 'a numeric title', { documents: [doc({ title: 7 })] }, 'documents[0].title'],
      ['/v1/documents', 'nested metadata', { documents: [doc({ metadata: { a: { b: 1 } } })] }, 'documents[0].metadata'],
      ['/v1/documents', 'array metadata', { documents: [doc({ metadata: ['x'] })] }, 'documents[0].metadata'],
      ['/v1/documents', 'a non-object document', { documents: ['text'] }, 'documents[0]'],
      ['/v1/search', 'no query', {}, 'query'],
      ['/v1/search', 'an empty query', { query: '' }, 'query'],
      ['/v1/search', 'a query over 2000 characters', { query: 'q'.repeat(2001) }, 'query'],
      ['/v1/search', 'topK 0', { query: 'x', topK: 0 }, 'topK'],
      ['/v1/search', 'topK 51', { query: 'x', topK: 51 }, 'topK'],
      ['/v1/search', 'topK as a string', { query: 'x', topK: '5' }, 'topK'],
      ['/v1/search', 'topK 2.5', { query: 'x', topK: 2.5 }, 'topK'],
      ['/v1/search', 'a nested filter', { query: 'x', filter: { lang: ['en'] } }, 'filter'],
      ['/v1/search/structured', 'a string schema', { query: 'x', schema: 'answer' }, 'schema'],
      ['/v1/search/structured', 'a schema over 16 KB', { query: 'x', schema: { description: 'd'.repeat(17_000) } }, 'schema'],
      ['/v1/search/structured', 'a numeric model', { query: 'x', model: 5 }, 'model'],
      ['/v1/search/structured', 'topK 51', { query: 'x', topK: 51 }, 'topK'],
    ])('%s: refuses %s with 400 naming the field', async (path, _, body, field) => {
      const response = await postJson(url(path), body);
      expect(response.status).toBe(400);
      expect(response.json.error).toMatchObject({ status: 400, code: 'BAD_REQUEST', param: expect.any(String) });
      expect(response.json.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    });

    it('refuses invalid JSON and a body over the limit with a 4xx envelope', async () => {
      const broken = await fetch(url('/v1/documents'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"documents": [' });
      expect(broken.status).toBe(400);
      await restart({ SERVICE_BODY_LIMIT_BYTES: '2048' });
      const large = await postJson(url('/v1/documents'), { documents: [doc({ text: 'x'.repeat(4096) })] });
      expect(large.status).toBe(413);
      expect(large.json.error.status).toBe(413);
    });

    it('stores nothing when a batch is refused', async () => {
      await postJson(url('/v1/documents'), { documents: [doc({ id: 'ok' }), doc({ id: 'bad id' })] });
      expect((await getJson(url('/v1/documents/ok'))).status).toBe(404);
    });
  });

  describe('sample corpus', () => {
    it('is loaded into an empty data directory, so search works at once', async () => {
      await boot({ SEARCH_SAMPLE_CORPUS: 'true' });
      const response = await search({ query: 'server closes an idle connection ECONNRESET race' });
      expect(response.json.hits[0].id).toBe('keepalive-race');
      expect((await idsOnDisk(dataDir)).length).toBeGreaterThanOrEqual(20);

      // Only into an empty directory: once an index exists, what was deleted stays deleted.
      await deleteJson(url('/v1/documents/keepalive-race'));
      await restart({ SEARCH_SAMPLE_CORPUS: 'true' });
      expect((await getJson(url('/v1/documents/keepalive-race'))).status).toBe(404);
      expect((await getJson(url('/v1/documents/tls-handshake'))).status).toBe(200);
    });

    it('is not loaded when SEARCH_SAMPLE_CORPUS is false', async () => {
      await boot();
      expect((await search({ query: 'keep-alive' })).json.hits).toEqual([]);
    });
  });

  it('refuses to boot with a bad search variable, naming it', async () => {
    await expect(boot({ SEARCH_EMBEDDING_BATCH_SIZE: '0', SEARCH_SAMPLE_CORPUS: 'maybe' })).rejects.toThrow(ConfigValidationError);
    await expect(boot({ SEARCH_EMBEDDING_BATCH_SIZE: '0' })).rejects.toThrow(/SEARCH_EMBEDDING_BATCH_SIZE="0": expected an integer from 1 to 2048/);
  });
});
