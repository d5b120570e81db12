/**
 * Scenario 3: what the service adds. The same chat completion, sent straight to
 * the simulator and through the service (POST /v1/chat/completions), closed loop
 * at concurrency 1, 32 and 256, with a 5 ms upstream.
 */
import type { ServiceProcess, SimulatorProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { cdfChart, type CdfSeries } from '../report/svg-charts';
import { fmt, ms, pct, ratio, summarize } from '../report/summary';
import {
  alternate,
  boundBy,
  chatBody,
  cpuPerRequestUs,
  latencies,
  machineBusy,
  measure,
  othersNote,
  mergeStatuses,
  perRound,
  processBusy,
  statusSummary,
  table,
  throughput,
  type BenchSettings,
  type ScenarioReport,
  type SideRun,
} from './scenario';

export const OVERHEAD_CONCURRENCY = [1, 32, 256] as const;
const UPSTREAM_LATENCY_MS = 5;
const THROUGHPUT_TARGET = 0.5;

export interface OverheadFigures {
  concurrency: number;
  direct: SideRun[];
  service: SideRun[];
}

export async function serviceOverhead(
  settings: BenchSettings,
  simulator: SimulatorProcess,
  service: ServiceProcess,
  cores: number,
): Promise<ScenarioReport & { figures: OverheadFigures[] }> {
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: UPSTREAM_LATENCY_MS });
  const body = chatBody();
  const durationS = settings.quick ? 1 : 4;
  const direct = { url: `${simulator.origin}/v1/chat/completions`, body };
  const through = { url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization } };
  const pids = { bench: process.pid, simulator: simulator.pid, service: service.pid };
  const figures: OverheadFigures[] = [];

  // A freshly started process spends its first seconds compiling (V8's optimising compiler runs on
  // other threads): warm both sides at a real load once before anything is measured.
  settings.log('  warm-up of simulator and service (JIT)');
  await closedLoop({ ...direct, connections: 32, durationS: settings.quick ? 1 : 3 });
  await closedLoop({ ...through, connections: 32, durationS: settings.quick ? 1 : 3 });
  for (const connections of OVERHEAD_CONCURRENCY) {
    settings.log(`  c=${connections}: warm-up`);
    // JIT, connection set-up and the pool's sockets, on both sides, before anything is counted.
    await closedLoop({ ...direct, connections, durationS: settings.quick ? 0.3 : 1 });
    await closedLoop({ ...through, connections, durationS: settings.quick ? 0.3 : 1 });
    const runs = await alternate(settings, {
      direct: () => measure(() => closedLoop({ ...direct, connections, durationS }), { simulator, pids }),
      service: () => measure(() => closedLoop({ ...through, connections, durationS }), { simulator, service, pids }),
    });
    figures.push({ concurrency: connections, direct: runs.direct, service: runs.service });
  }

  const rows: string[][] = [];
  const ratioRows: string[][] = [];
  const series: CdfSeries[] = [];
  for (const { concurrency, direct: d, service: s } of figures) {
    for (const [side, runs] of [
      ['direct', d],
      ['service', s],
    ] as const) {
      const lat = summarize(latencies(runs));
      const cpu = cpuPerRequestUs(runs);
      rows.push([
        `c=${concurrency} ${side}`,
        fmt(throughput(runs)),
        ms(lat.p50),
        ms(lat.p95),
        ms(lat.p99),
        perRound(runs.map((r) => summarize(r.load.latenciesMs).p50)),
        side === 'service' ? fmt(cpu.service) : '–',
        fmt(cpu.simulator),
        fmt(cpu.bench),
        `${side === 'service' ? pct(processBusy(runs, 'service')) : '–'} / ${pct(processBusy(runs, 'simulator'))} / ${pct(processBusy(runs, 'bench'))}`,
        pct(machineBusy(runs, cores)),
        boundBy(runs, cores),
        String(Math.max(...runs.map((r) => r.upstream.connections))),
        statusSummary(mergeStatuses(runs)),
      ]);
      series.push({ label: `c=${concurrency} ${side}`, values: latencies(runs), dashed: side === 'direct', colour: OVERHEAD_CONCURRENCY.indexOf(concurrency as 1) });
    }
    const dLat = summarize(latencies(d));
    const sLat = summarize(latencies(s));
    ratioRows.push([
      `c=${concurrency}`,
      ratio(throughput(s) / throughput(d)),
      perRound(s.map((run, i) => run.load.okPerSecond / d[i].load.okPerSecond), '×'),
      ms(sLat.p50 - dLat.p50),
      ms(sLat.p99 - dLat.p99),
    ]);
  }

  const c32 = figures.find((f) => f.concurrency === 32)!;
  const c32Ratio = throughput(c32.service) / throughput(c32.direct);
  const markdown = [
    `Simulator \`latencyMs: ${UPSTREAM_LATENCY_MS}\`, \`ttftMs: 0\`, non-streamed completions; service with \`LLM_MAX_CONNECTIONS=256\` (no request waits at the gate), caller auth on, rate limit off. ` +
      `autocannon, closed loop, ${durationS} s per side per round, ${settings.rounds} rounds alternating direct / service after a warm-up of both.`,
    '',
    table(
      ['side', 'req/s', 'p50', 'p95', 'p99', 'p50 by round', 'service CPU µs/req', 'simulator CPU µs/req', 'bench CPU µs/req', 'core busy: service / simulator / bench', 'machine busy', 'bound by', 'upstream conns', 'statuses'],
      rows,
    ),
    '',
    table(['concurrency', 'throughput service ÷ direct', 'by round', 'added p50', 'added p99'], ratioRows),
    '',
    othersNote(figures.flatMap((f) => [...f.direct, ...f.service]), cores),
  ].join('\n');

  return {
    title: '3. Service overhead: direct vs through the service',
    markdown,
    charts: [{ file: 's3-service-overhead-cdf.svg', svg: cdfChart('Scenario 3: direct (dashed) vs through the service, 5 ms upstream', 'latency, ms (log scale)', series), caption: 'Latency CDF, direct (dashed) and through the service, per concurrency' }],
    targets: [
      {
        target: `throughput through the service ≥ ${THROUGHPUT_TARGET} × direct at c=32, 5 ms upstream`,
        measured: `${ratio(c32Ratio)} (${fmt(throughput(c32.service))} vs ${fmt(throughput(c32.direct))} req/s)`,
        met: c32Ratio >= THROUGHPUT_TARGET,
      },
    ],
    figures,
  };
}
