import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually } from './service-harness';

export interface SpawnedService {
  child: ChildProcess;
  /** What the process printed so far, stdout and stderr together. */
  output: () => string;
  exited: Promise<number | null>;
}

/** The real entry point (src/main.ts through ts-node) as its own process, for what only a process shows: exit codes, signals. */
export function spawnService(env: Record<string, string>): SpawnedService {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, '../../src/main.ts')], {
    cwd: join(__dirname, '../..'),
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * `spawnService` on a free loopback port, resolved once its /health/live answers 200 (the process is killed
 * if it does not within 20 s). The caller still kills it with SIGKILL in a `finally`.
 */
export async function spawnLiveService(env: Record<string, string>): Promise<SpawnedService & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const service = spawnService({ PORT: String(port), HOST: '127.0.0.1', ...env });
  try {
    await eventually(async () => expect((await fetch(`${url}/health/live`)).status).toBe(200), 20_000, 100);
  } catch (error) {
    service.child.kill('SIGKILL');
    throw error;
  }
  return { ...service, url };
}
