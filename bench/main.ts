/**
 * `npm run bench`: the service against the upstream simulator on 127.0.0.1,
 * every comparison run side by side in alternating rounds, written to
 * bench/results/REPORT.md and bench/results/*.svg. Not part of `npm test`.
 *
 *   BENCH_QUICK=1        a smoke run of seconds (1 round, short loads); its numbers are indicative only
 *   BENCH_ROUNDS=N       A/B rounds per comparison (default 3; quick 1)
 *   BENCH_ONLY=1,3,6     run only these scenarios (the report then covers only them); 7 (or search): the search stores
 *   BENCH_RESULTS_DIR    where the report goes (default bench/results)
 *   BENCH_SERVICE_RUNTIME=ts-node   run the service through ts-node instead of compiled (when tsc cannot emit)
 *   BENCH_SERVICE_NODE_FLAGS="..."  node flags for the service instead of npm start's (e.g. "" to measure without them)
 *   BENCH_BASELINE=<dir>  another checkout (e.g. `git worktree add --detach /tmp/base main`) built and run as a
 *                        second service, measured in the same rounds as this one in scenarios 3 and 4 (before / after)
 *   BENCH_PORTKEY=0      leave the Portkey gateway out of scenario 3 (it is installed into bench/.tools/ on first use)
 *   BENCH_ONLY=profile   the CPU profile of the service by package (part of scenario 3 otherwise)
 *   BENCH_PROFILE_KEEP=<file>  keep that profile's raw .cpuprofile
 *
 * Layout: this process is the load generator (autocannon, undici); the simulator,
 * the latency proxy and every service instance are child processes with their
 * own event loops (see the method check in the report for why).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { BUILD_DIST, buildService } from './harness/build-service';
import { describeServiceRuntime, ServiceProcess, SimulatorProcess, useServiceRuntime, waitForQuiet } from './harness/processes';
import { harnessCheck } from './scenarios/harness-check';
import { keepAliveCoverage } from './scenarios/keepalive-coverage';
import { memoryAtOpenStreams } from './scenarios/memory';
import { overload } from './scenarios/overload';
import { poolVsNoPool } from './scenarios/pool-vs-no-pool';
import { searchStores } from './scenarios/search';
import type { BenchSettings, ScenarioReport } from './scenarios/scenario';
import { serviceCpuProfile } from './scenarios/cpu-profile';
import { serviceOverhead } from './scenarios/service-overhead';
import { installPortkey } from './harness/portkey';
import { PortkeyProcess } from './harness/processes';
import { streamingTtfb } from './scenarios/streaming-ttfb';
import { renderReport } from './report/markdown-report';

const HARD_LIMIT_MS = 15 * 60_000;
const QUIET_WAIT_PER_SIDE_MS = 3_000;
const QUIET_BUDGET_MS = 60_000;

function parseOnly(raw: string | undefined): Set<string> | undefined {
  if (!raw?.trim()) return undefined;
  return new Set(raw.split(',').map((s) => s.trim().toLowerCase()));
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new Error(`BENCH_ROUNDS=${process.env.BENCH_ROUNDS}: expected an integer from 1 to 10`);
  const only = parseOnly(process.env.BENCH_ONLY);
  const wanted = (id: string) => !only || only.has(id);
  const resultsDir = process.env.BENCH_RESULTS_DIR ?? join(__dirname, 'results');
  const started = Date.now();
  const log = (message: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  const cores = cpus().length;
  // The machine may be shared: before each side of a comparison, wait briefly for foreign load to pass (bounded).
  let quietBudgetMs = quick ? 5_000 : QUIET_BUDGET_MS;
  const quietGate = async () => {
    if (quietBudgetMs <= 0) return;
    const { waitedMs, busy } = await waitForQuiet(cores, Math.min(QUIET_WAIT_PER_SIDE_MS, quietBudgetMs));
    quietBudgetMs -= waitedMs;
    if (busy >= 0.1) log(`    machine still ${(busy * 100).toFixed(0)} % busy with other work after ${(waitedMs / 1000).toFixed(1)} s; going on`);
  };
  const settings: BenchSettings = { quick, rounds, cores, log, quietGate };

  // Whatever happens, the bench stops by itself (and takes its child processes with it).
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after ${HARD_LIMIT_MS / 60_000} minutes, giving up\n`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  watchdog.unref();
  process.once('SIGINT', () => process.exit(130));

  log(`${quick ? 'quick' : 'full'} run, ${rounds} round(s) per comparison, ${cores} cores`);
  // The service as production runs it: compiled by tsc (npm run build), started with plain node.
  const runtime = process.env.BENCH_SERVICE_RUNTIME === 'ts-node' ? 'ts-node' : 'compiled';
  let appFactory = join(__dirname, '..', 'src', 'app.factory.ts');
  if (runtime === 'compiled') {
    log('building the service (tsc -p tsconfig.build.json)');
    const { entry, root, diagnostics } = buildService();
    if (diagnostics) log(`  tsc reported problems but emitted the service:\n${diagnostics.slice(0, 2_000)}`);
    useServiceRuntime({ kind: 'compiled', entry, cwd: root });
    appFactory = join(BUILD_DIST, 'app.factory.js');
  }
  const reports: ScenarioReport[] = [];

  if (wanted('1') || wanted('2')) {
    if (wanted('1')) {
      log('scenario 1: pool vs no pool over HTTPS with 20 ms each way');
      reports.push(await poolVsNoPool(settings, cores));
    }
    if (wanted('2')) {
      log('scenario 2: keep-alive coverage at saturation');
      reports.push(await keepAliveCoverage(settings, cores));
    }
  }

  // One plain-HTTP simulator and one service for the direct-vs-service comparisons (3, 4, method check).
  const plain = wanted('3') || wanted('4') || wanted('method') || wanted('profile');
  const simulator = plain ? await SimulatorProcess.start({ tls: false }) : undefined;
  const serviceEnv = { LLM_UPSTREAMS: `sim=${simulator?.origin}/v1`, LLM_MAX_CONNECTIONS: '256' };
  const service = simulator ? await ServiceProcess.start('service', serviceEnv) : undefined;
  let baseline: ServiceProcess | undefined;
  if (simulator && process.env.BENCH_BASELINE && (wanted('3') || wanted('4'))) {
    log(`building the baseline service from ${process.env.BENCH_BASELINE}`);
    const built = buildService(process.env.BENCH_BASELINE);
    baseline = await ServiceProcess.start('baseline', serviceEnv, [], { kind: 'compiled', entry: built.entry, cwd: built.root });
  }
  if (simulator && service && wanted('3')) {
    // Another gateway on the same machine and simulator, as a reference (installed on first use; skipped with a note if it cannot be).
    let portkey: PortkeyProcess | { problem: string } = { problem: 'left out (BENCH_PORTKEY=0)' };
    if (process.env.BENCH_PORTKEY !== '0') {
      log('scenario 3: installing / starting the Portkey gateway');
      const installed = installPortkey();
      portkey = 'entry' in installed ? await PortkeyProcess.start(installed.entry).catch((error: Error) => ({ problem: error.message.slice(0, 300) })) : installed;
    }
    log('scenario 3: service overhead, direct vs through the service');
    reports.push(await serviceOverhead(settings, simulator, service, cores, portkey, baseline));
    if (portkey instanceof PortkeyProcess) await portkey.stop();
  }
  if (simulator && service && wanted('4')) {
    log('scenario 4: streaming time to first byte');
    reports.push(await streamingTtfb(settings, simulator, service, cores, baseline));
  }
  if (simulator && (wanted('3') || wanted('profile'))) {
    log('scenario 3b: CPU profile of the service');
    reports.push(await serviceCpuProfile(settings, simulator));
  }
  if (wanted('5')) {
    log('scenario 5: overload at 4 × capacity');
    reports.push(await overload(settings, cores));
  }
  if (wanted('6')) {
    log('scenario 6: memory with 1 000 open streams');
    reports.push(await memoryAtOpenStreams(settings));
  }
  if (wanted('7') || wanted('search')) {
    log('scenario 7: search stores, embedded vs PostgreSQL');
    reports.push(await searchStores(settings));
  }
  // Last: it boots a second service inside this process, which stays loaded here afterwards.
  if (simulator && service && wanted('method')) {
    log("method check: service in the load generator's process vs its own");
    reports.push(await harnessCheck(settings, simulator, service, cores, appFactory));
  }
  await baseline?.stop();
  await service?.stop();
  await simulator?.stop();

  mkdirSync(resultsDir, { recursive: true });
  for (const report of reports) for (const chart of report.charts) writeFileSync(join(resultsDir, chart.file), chart.svg);
  const markdown = renderReport(reports, {
    quick,
    rounds,
    cores,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: totalmem() / 2 ** 30,
    node: process.version,
    durationS: (Date.now() - started) / 1000,
    only: only ? [...only] : undefined,
    serviceRuntime: describeServiceRuntime(),
  });
  writeFileSync(join(resultsDir, 'REPORT.md'), markdown);
  log(`wrote ${join(resultsDir, 'REPORT.md')}`);
  const summary = reports.flatMap((r) => r.targets).map((t) => `  ${t.met === undefined ? '?' : t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.measured}`);
  process.stdout.write(`${summary.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
