/**
 * Scenario 7: search stores. Ingest rate, query latency and single-document write latency of
 * the embedded store (journal + snapshot under SEARCH_DATA_DIR) and of PostgreSQL
 * (DATABASE_URL on a private cluster with fsync on, as in production), at 10 000 and 100 000
 * documents. Lexical search (no embeddings model): it is what both stores do alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresCluster } from '../../test/support/engines';
import { ServiceProcess, SimulatorProcess } from '../harness/processes';
import { fmt, ms, summarize, type LatencySummary } from '../report/summary';
import { table, type BenchSettings, type ScenarioReport } from './scenario';

const WRITE_TARGET_MS = 5;
const INGEST_BATCH = 500;
const INGEST_CONCURRENCY = 2;
const VOCABULARY = 20_000;
const WORDS_PER_DOCUMENT = 120;

/** A small deterministic generator, so every run and both stores index the same corpus. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Word ranks drawn roughly by Zipf's law, as in text: a few words everywhere, most rare. */
const word = (next: () => number) => `w${Math.floor(VOCABULARY ** next())}`;

function document(i: number) {
  const next = random(i + 1);
  return { id: `doc-${i}`, title: `document ${i} ${word(next)}`, text: Array.from({ length: WORDS_PER_DOCUMENT }, () => word(next)).join(' '), metadata: { shard: i % 16 } };
}

interface StoreRun {
  store: string;
  documents: number;
  ingestPerSecond: number;
  query: LatencySummary;
  singleWrite?: LatencySummary;
  rssMb: number;
}

async function post(service: ServiceProcess, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: service.authorization },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${service.name}: POST ${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  await response.arrayBuffer();
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function measureStore(settings: BenchSettings, store: string, size: number, env: Record<string, string>, singleWrites: number, queries: number): Promise<StoreRun> {
  const service = await ServiceProcess.start(`service-search-${store}`, { SEARCH_MAX_DOCUMENTS: '1000000', ...env });
  // (The simulator is only there because the service needs an upstream to boot; search never calls it.)
  try {
    // Ingest: batches of INGEST_BATCH, INGEST_CONCURRENCY in flight (a bulk load, as a caller would do it).
    let nextBatch = 0;
    const batches = Math.ceil(size / INGEST_BATCH);
    const ingestMs = await timed(async () => {
      await Promise.all(
        Array.from({ length: INGEST_CONCURRENCY }, async () => {
          for (let b = nextBatch++; b < batches; b = nextBatch++) {
            const documents = Array.from({ length: Math.min(INGEST_BATCH, size - b * INGEST_BATCH) }, (_, k) => document(b * INGEST_BATCH + k));
            await post(service, '/v1/documents', { documents });
          }
        }),
      );
    });
    settings.log(`    ${store}: ${size} documents ingested in ${fmt(ingestMs / 1000)} s`);

    // One caller writing one document at a time: each write's latency is the store's commit.
    const writes: number[] = [];
    for (let i = 0; i < singleWrites; i++) writes.push(await timed(() => post(service, '/v1/documents', { documents: [document(size + i)] })));

    const next = random(7);
    const latencies: number[] = [];
    for (let i = 0; i < queries; i++) {
      const query = `${word(next)} ${word(next)} ${word(next)}`;
      latencies.push(await timed(() => post(service, '/v1/search', { query, topK: 10 })));
    }
    return { store, documents: size, ingestPerSecond: (size / ingestMs) * 1000, query: summarize(latencies), singleWrite: writes.length ? summarize(writes) : undefined, rssMb: service.rssMb() };
  } finally {
    await service.stop();
  }
}

export async function searchStores(settings: BenchSettings): Promise<ScenarioReport> {
  // BENCH_SEARCH_SIZES=10000 measures one size alone (single writes are taken at the first size).
  const sizes = process.env.BENCH_SEARCH_SIZES ? process.env.BENCH_SEARCH_SIZES.split(',').map(Number) : settings.quick ? [2_000, 10_000] : [10_000, 100_000];
  const singleWrites = settings.quick ? 100 : 500;
  const queries = settings.quick ? 100 : 500;
  let postgres: PostgresCluster | undefined;
  let postgresNote: string | undefined;
  try {
    postgres = await startPostgres({ durable: true });
    if (!postgres) postgresNote = 'PostgreSQL 15 is not installed here (.ci/install-engines installs it): the PostgreSQL column is missing.';
  } catch (error) {
    postgresNote = `the private PostgreSQL cluster did not start (${(error as Error).message.split('\n')[0]}): the PostgreSQL column is missing.`;
  }

  const runs: StoreRun[] = [];
  const simulator = await SimulatorProcess.start({ tls: false });
  const upstream = { LLM_UPSTREAMS: `sim=${simulator.origin}/v1` };
  try {
    for (const size of sizes) {
      // Single writes are measured at the first size (10 000 in a full run), the figure the target is about.
      const writes = size === sizes[0] ? singleWrites : 0;
      await settings.quietGate();
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-search-'));
      try {
        runs.push(await measureStore(settings, 'embedded', size, { ...upstream, SEARCH_DATA_DIR: dataDir }, writes, queries));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
      if (postgres) {
        await settings.quietGate();
        runs.push(await measureStore(settings, 'PostgreSQL', size, { ...upstream, DATABASE_URL: await postgres.createDatabase(`bench_search_${size}`) }, writes, queries));
      }
    }
  } finally {
    await postgres?.stop();
    await simulator.stop();
  }

  const embeddedWrite = runs.find((run) => run.store === 'embedded' && run.singleWrite);
  const markdown = [
    `Lexical search over synthetic documents of ${WORDS_PER_DOCUMENT} words (Zipf-distributed over ${VOCABULARY.toLocaleString('en-US')} words, ~1 KB each), ` +
      `the same corpus for both stores. Ingest: batches of ${INGEST_BATCH} documents, ${INGEST_CONCURRENCY} in flight. ` +
      `Single writes: ${singleWrites} one-document POSTs one after another, right after the ingest of ${sizes[0].toLocaleString('en-US')}. ` +
      `Queries: ${queries} searches of 3 words, topK 10, one at a time. Latencies are HTTP round trips from the bench over 127.0.0.1. ` +
      'The embedded store fdatasyncs a journal record per group commit; PostgreSQL runs with fsync on (a private cluster, default settings otherwise).',
    '',
    table(
      ['store', 'documents', 'ingest', 'query p50 / p99', 'single write p50 / p99', 'service RSS after'],
      runs.map((run) => [
        run.store,
        run.documents.toLocaleString('en-US'),
        `${fmt(run.ingestPerSecond)} docs/s`,
        `${ms(run.query.p50)} / ${ms(run.query.p99)}`,
        run.singleWrite ? `${ms(run.singleWrite.p50)} / ${ms(run.singleWrite.p99)}` : '–',
        `${fmt(run.rssMb)} MB`,
      ]),
    ),
    ...(postgresNote ? ['', `> ${postgresNote}`] : []),
  ].join('\n');

  return {
    title: '7. Search stores: embedded journal vs PostgreSQL',
    markdown,
    charts: [],
    targets: [
      {
        target: `embedded single-document write p50 ≤ ${WRITE_TARGET_MS} ms at ${sizes[0].toLocaleString('en-US')} documents`,
        measured: embeddedWrite?.singleWrite ? `${ms(embeddedWrite.singleWrite.p50)} (p99 ${ms(embeddedWrite.singleWrite.p99)})` : 'not measured',
        met: embeddedWrite?.singleWrite ? embeddedWrite.singleWrite.p50 <= WRITE_TARGET_MS : undefined,
      },
    ],
  };
}
