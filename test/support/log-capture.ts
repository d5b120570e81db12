import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger, Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { flushLogs } from '../../src/common/log-safe';
import { UpstreamSimulator, type SimulatorOptions } from '../../src/simulator/upstream-simulator';
import { listenWithEnv, routesTo, type RunningService } from './service-harness';

// The app's logger writes JSON lines once per event-loop turn (log-safe.ts): a test that reads the capture
// right after an action calls this first, so it sees every line logged so far.
export { flushLogs };

/** Everything captured so far, the lines the logger still holds for this turn included. */
export function loggedText(output: string[]): string {
  flushLogs();
  return output.join('');
}

/** The JSON log lines captured so far, parsed (every line must be JSON). */
export function loggedJsonLines(output: string[]): any[] {
  return loggedText(output)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

export interface LogCapture {
  /** Every chunk written to stdout or stderr since the capture began, in order, as text. */
  chunks: string[];
  /** Takes the lines the logger still holds, then gives the streams back their own `write`. */
  restore(): void;
}

/**
 * Takes everything written to stdout and stderr (nothing reaches the terminal until `restore`) and turns
 * Nest's static logger back on: a previous boot with `logger: false` switched it off for this process.
 */
export function captureLogs(): LogCapture {
  const chunks: string[] = [];
  const capture = (stream: NodeJS.WriteStream) =>
    jest.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof stream.write);
  const spies = [capture(process.stdout), capture(process.stderr)];
  Logger.overrideLogger(new ConsoleLogger());
  return {
    chunks,
    restore: () => {
      flushLogs();
      spies.forEach((spy) => spy.mockRestore());
    },
  };
}

export interface LoggedService extends RunningService {
  /** What the service has written to stdout and stderr so far. */
  logs: string[];
}

/** Boots the real app like `listenWithEnv`, with Nest's own logger on and its output captured until `close`. */
export async function startServiceWithLogs(env: Record<string, string>): Promise<LoggedService> {
  const capture = captureLogs();
  let app: NestFastifyApplication;
  let url: string;
  try {
    ({ app, url } = await listenWithEnv(env));
  } catch (error) {
    capture.restore();
    throw error;
  }
  return {
    app,
    url,
    logs: capture.chunks,
    close: async () => {
      try {
        await app.close();
      } finally {
        capture.restore();
      }
    },
  };
}

export interface LoggedSimulatedService {
  simulator: UpstreamSimulator;
  service: LoggedService;
  /** Closes the service (its capture with it), then the simulator, then removes the search index. */
  stop(): Promise<void>;
}

/** `startWithSimulator` with the service's output captured: a simulator, then the service routed to it on an empty search index of its own. */
export async function startWithSimulatorAndLogs(simulatorOptions: SimulatorOptions, env: Record<string, string>): Promise<LoggedSimulatedService> {
  const simulator = new UpstreamSimulator(simulatorOptions);
  await simulator.start();
  const searchDir = mkdtempSync(join(tmpdir(), 'llm-logged-'));
  const release = async () => {
    await simulator.stop();
    rmSync(searchDir, { recursive: true, force: true });
  };
  let service: LoggedService;
  try {
    service = await startServiceWithLogs({ ...routesTo(simulator), SEARCH_DATA_DIR: searchDir, SEARCH_SAMPLE_CORPUS: 'false', ...env });
  } catch (error) {
    await release();
    throw error;
  }
  return {
    simulator,
    service,
    stop: async () => {
      try {
        await service.close();
      } finally {
        await release();
      }
    },
  };
}
