/**
 * Method check: why the service runs in its own process. The same load (c=32,
 * 5 ms upstream) against the service booted inside the load generator's process
 * (test/support/service-harness.ts, as the e2e tests do) and against the service
 * in its own process, alternating.
 */
import type { ServiceProcess, SimulatorProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { fmt, ms, pct, summarize } from '../report/summary';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { alternate, chatBody, latencies, measure, othersNote, perRound, processBusy, table, throughput, type BenchSettings, type ScenarioReport } from './scenario';

const CONCURRENCY = 32;

type CreateApp = (options: { ignoreEnvFile?: boolean; logger?: false }) => Promise<NestFastifyApplication>;

/**
 * Boots the service inside this process, as test/support/service-harness.ts does for the
 * e2e tests, from the same code the child processes run (`appFactory`: compiled or source).
 */
async function startInProcess(appFactory: string, env: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const { createApp } = require(appFactory) as { createApp: CreateApp };
  const saved = { ...process.env };
  Object.assign(process.env, { SEARCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'llm-bench-search-')), SEARCH_SAMPLE_CORPUS: 'false' }, env);
  let app: NestFastifyApplication;
  try {
    app = await createApp({ ignoreEnvFile: true, logger: false });
    await app.listen(0, '127.0.0.1');
  } finally {
    process.env = saved;
  }
  const { port } = app.getHttpServer().address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export async function harnessCheck(
  settings: BenchSettings,
  simulator: SimulatorProcess,
  service: ServiceProcess,
  cores: number,
  appFactory: string,
): Promise<ScenarioReport> {
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 5 });
  const inProcess = await startInProcess(appFactory, {
    LLM_SIMULATOR: 'off',
    LLM_PROVIDER: 'sim',
    LLM_UPSTREAMS: `sim=${simulator.origin}/v1`,
    LLM_MAX_CONNECTIONS: '256',
    SERVICE_API_KEYS: service.callerKey,
    SERVICE_RATE_LIMIT_PER_MINUTE: '0',
  });
  const body = chatBody();
  const durationS = settings.quick ? 1 : 3;
  const load = (url: string) => () => closedLoop({ url: `${url}/v1/chat/completions`, body, headers: { authorization: service.authorization }, connections: CONCURRENCY, durationS });
  await load(inProcess.url)();
  await load(service.url)();
  const runs = await alternate(settings, {
    inProcess: () => measure(load(inProcess.url), { simulator, pids: { bench: process.pid, simulator: simulator.pid } }),
    ownProcess: () => measure(load(service.url), { simulator, pids: { bench: process.pid, simulator: simulator.pid, service: service.pid } }),
  });
  await inProcess.close();

  const row = (label: string, key: 'inProcess' | 'ownProcess') => {
    const lat = summarize(latencies(runs[key]));
    return [label, fmt(throughput(runs[key])), ms(lat.p50), ms(lat.p99), perRound(runs[key].map((r) => r.load.okPerSecond)), pct(processBusy(runs[key], 'bench')), key === 'ownProcess' ? pct(processBusy(runs[key], 'service')) : '(in the bench process)'];
  };
  const ownFaster = throughput(runs.ownProcess) / throughput(runs.inProcess);
  const benchInProcess = processBusy(runs.inProcess, 'bench');
  const markdown = [
    `c=${CONCURRENCY}, simulator \`latencyMs: 5\`, autocannon ${durationS} s per side per round, ${settings.rounds} rounds alternating. Machine: ${cores} cores.`,
    '',
    table(
      ['service runs', 'req/s', 'p50', 'p99', 'req/s by round', 'bench process: share of one core', 'service process: share of one core'],
      [row("in the load generator's process (as test/support/service-harness.ts boots it)", 'inProcess'), row('in its own process', 'ownProcess')],
    ),
    '',
    `Measured: the service in its own process served ${ownFaster.toFixed(2)}× the requests per second it served inside the load generator's process, ` +
      `where that one process was ${pct(benchInProcess)} busy (a Node process can exceed 100 % only through its GC and compiler threads: its JavaScript runs on one thread). ` +
      'In-process, autocannon and the service take turns on one event loop, so each measured latency includes the load generator\'s own work, the service cannot use the second core, ' +
      'and its CPU cannot be told apart from the load generator\'s. In its own process the service has its own event loop, as deployed, and /proc gives its CPU per request. ' +
      'On 2 cores the load generator, the simulator and the service still share the machine; the CPU columns of each table show how busy each was, so a reader can tell which one set the pace.',
    '',
    othersNote([...runs.inProcess, ...runs.ownProcess], cores),
  ].join('\n');
  return { title: 'Method check: service in the load generator\'s process vs its own', markdown, charts: [], targets: [] };
}
