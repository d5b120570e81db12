/**
 * Real service processes (src/main.ts through ts-node, as spawn-service.ts runs it) for fleet
 * tests: several instances sharing one PostgreSQL (and Redis), each on its own loopback port.
 *
 * Usage:
 *   const a = await startInstance({ DATABASE_URL: url });     // resolves once /health/ready is 200
 *   await a.restart();                                        // SIGTERM, wait for exit, start again on the same port
 *   a.kill('SIGKILL');                                        // crash it
 *   await a.stop();                                           // in afterAll/afterEach
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './service-harness';
import { freePort, spawnService } from './spawn-service';

const BOOT_TIMEOUT_MS = 60_000;

export interface Instance {
  url: string;
  /** What the process printed (stdout and stderr), for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Its own (unused with DATABASE_URL) data directory: instances never share a file.
  const dataDir = mkdtempSync(join(tmpdir(), 'llm-fleet-'));
  const fullEnv = { PORT: String(port), HOST: '127.0.0.1', SEARCH_DATA_DIR: dataDir, SEARCH_SAMPLE_CORPUS: 'false', ...env };
  let process = spawnService(fullEnv);

  const waitReady = async () => {
    const current = process;
    let exitCode: number | null | undefined;
    void current.exited.then((code) => (exitCode = code));
    await eventually(
      async () => {
        if (exitCode !== undefined) throw new Error(`exited (${exitCode}) while starting:\n${current.output()}`);
        const response = await fetch(`${url}/health/ready`).catch(() => undefined);
        if (response?.status !== 200) throw new Error(`not ready within ${BOOT_TIMEOUT_MS} ms (last: ${response?.status ?? 'no answer'}):\n${current.output().slice(-2_000)}`);
      },
      BOOT_TIMEOUT_MS,
      100,
    );
  };
  const stopProcess = async () => {
    const { child, exited } = process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitReady();
  } catch (error) {
    process.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    output: () => process.output(),
    kill: (signal) => process.child.kill(signal),
    restart: async () => {
      await stopProcess();
      process = spawnService(fullEnv);
      await waitReady();
    },
    stop: async () => {
      await stopProcess();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
