/**
 * Private database engines for tests: a throwaway PostgreSQL 15 cluster (pgvector when installed)
 * and a throwaway redis-server, each on a free loopback port, gone when stopped.
 *
 * Usage:
 *   let pg: PostgresCluster | undefined;
 *   beforeAll(async () => (pg = await startPostgres()), 60_000);   // undefined: not installed, reason printed
 *   afterAll(() => pg?.stop());
 *   it('...', async () => { if (!pg) return; const url = await pg.createDatabase(); ... });
 * or skip a whole file: `const describePg = postgresUnavailable() ? describe.skip : describe;`
 *   (print `postgresUnavailable()` so the log says why).
 * Redis the same way: `startRedis()`, `redisUnavailable()`, `redis.url`, `redis.stop()`.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, the cluster's directory is
 * given to the `postgres` user and the server runs as that user. Durability of PostgreSQL
 * itself is not under test, so fsync is off (the tests kill the service, not the server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './spawn-service';

const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PG_SHARE = process.env.TEST_PG_SHARE ?? '/usr/share/postgresql/15';
const REDIS_SERVER = process.env.TEST_REDIS_SERVER ?? '/usr/bin/redis-server';
const START_TIMEOUT_MS = 30_000;

const running = new Set<ChildProcess>();
// A test run that dies must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

interface RunAs {
  uid: number;
  gid: number;
}

/** Who the server runs as: the `postgres` user when we are root, ourselves otherwise. */
function postgresUser(): RunAs | undefined | 'missing' {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (!line) return 'missing';
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  for (const binary of ['initdb', 'postgres']) {
    if (!existsSync(join(PG_BIN, binary))) return `PostgreSQL 15 is not installed (${join(PG_BIN, binary)} missing; .ci/install-engines installs it)`;
  }
  if (postgresUser() === 'missing') return 'running as root and there is no `postgres` user to run the server as';
  return undefined;
}

/** Whether pgvector's files are installed (CREATE EXTENSION vector can work). */
export function pgvectorInstalled(): boolean {
  return existsSync(join(PG_SHARE, 'extension', 'vector.control'));
}

export function redisUnavailable(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `redis-server is not installed (${REDIS_SERVER} missing; .ci/install-engines installs it)`;
}

/** Runs a server child, keeping its output for error messages. */
function spawnServer(command: string, args: string[], options: { cwd: string; runAs?: RunAs }): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' },
    ...(options.runAs && { uid: options.runAs.uid, gid: options.runAs.gid }),
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-10_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

/** Signals a child and waits for it to exit; SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitUntil(what: string, check: () => Promise<boolean>, output: () => string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (exited()) throw new Error(`${what} exited while starting:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface PostgresCluster {
  /** The `postgres` database as superuser `postgres` (trust auth, loopback only). */
  url: string;
  port: number;
  /** CREATE EXTENSION vector worked. */
  vector: boolean;
  /** A fresh, empty database; its URL. Each test that wants isolation takes one. */
  createDatabase(name?: string): Promise<string>;
  /** Runs SQL on a database of this cluster (default: `postgres`). */
  query<R = any>(sql: string, values?: unknown[], url?: string): Promise<R[]>;
  /** Stops the server, keeping its data: for outage tests. `start()` brings it back on the same port. */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  stop(): Promise<void>;
}

let databases = 0;

/**
 * A private cluster, or undefined (reason printed) when PostgreSQL is not installed.
 * `durable`: fsync on (as in production), for benchmarks that compare write latency with the embedded store.
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<PostgresCluster | undefined> {
  const missing = postgresUnavailable();
  if (missing) {
    console.warn(`skipping PostgreSQL tests: ${missing}`);
    return undefined;
  }
  const runAs = postgresUser() as RunAs | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'llm-pg-'));
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);
  const data = join(dir, 'data');
  const init = spawnSync(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions'], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' },
    ...(runAs && { uid: runAs.uid, gid: runAs.gid }),
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}):\n${init.stdout}\n${init.stderr}`);
  }
  const port = await freePort();
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let server: ReturnType<typeof spawnServer> | undefined;

  const query = async <R>(sql: string, values?: unknown[], target = url()): Promise<R[]> => {
    const client = new Client({ connectionString: target, connectionTimeoutMillis: 2_000 });
    await client.connect();
    try {
      return (await client.query(sql, values)).rows as R[];
    } finally {
      await client.end();
    }
  };

  const start = async () => {
    if (server) return; // already running
    server = spawnServer(
      join(PG_BIN, 'postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off']), '-c', 'max_connections=200'],
      { cwd: dir, runAs },
    );
    const current = server;
    try {
      await waitUntil('postgres', async () => (await query('SELECT 1')).length === 1, current.output, () => current.child.exitCode !== null);
    } catch (error) {
      server = undefined;
      await stopChild(current.child, 'SIGKILL');
      throw error;
    }
  };
  const halt = async () => {
    if (server) await stopChild(server.child, 'SIGINT'); // fast shutdown: clients are disconnected at once
    server = undefined;
  };

  try {
    await start();
  } catch (error) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let vector = false;
  if (pgvectorInstalled()) {
    try {
      // In template1 too, so every database created for a test has it.
      await query('CREATE EXTENSION IF NOT EXISTS vector', [], url('template1'));
      await query('CREATE EXTENSION IF NOT EXISTS vector');
      vector = true;
    } catch (error) {
      console.warn(`pgvector is installed but CREATE EXTENSION vector failed: ${(error as Error).message}`);
    }
  }
  return {
    url: url(),
    port,
    vector,
    query,
    halt,
    start,
    createDatabase: async (name = `t${process.pid}_${++databases}`) => {
      await query(`CREATE DATABASE ${name}`);
      return url(name);
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A private redis-server without persistence, or undefined (reason printed) when it is not installed. */
export async function startRedis(): Promise<RedisServer | undefined> {
  const missing = redisUnavailable();
  if (missing) {
    console.warn(`skipping Redis tests: ${missing}`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'llm-redis-'));
  const port = await freePort();
  const server = spawnServer(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { cwd: dir });
  const stop = async () => {
    await stopChild(server.child, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil('redis-server', async () => server.output().includes('Ready to accept connections'), server.output, () => server.child.exitCode !== null);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}
