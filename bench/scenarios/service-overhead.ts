/**
 * Scenario 3: what the service adds. The same chat completion, sent straight to
 * the simulator and through the service (POST /v1/chat/completions), closed loop
 * at concurrency 1, 32 and 256, with a 5 ms upstream.
 */
import { PORTKEY_VERSION, portkeyHeaders } from '../harness/portkey';
import { PortkeyProcess, type ServiceProcess, type SimulatorProcess } from '../harness/processes';
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
const CPU_TARGET_US = 450;
const PORTKEY_TARGET = 3;

export interface OverheadFigures {
  concurrency: number;
  direct: SideRun[];
  service: SideRun[];
  /** BENCH_BASELINE: the other checkout's service, in the same rounds. */
  baseline?: SideRun[];
  portkey?: SideRun[];
}

export async function serviceOverhead(
  settings: BenchSettings,
  simulator: SimulatorProcess,
  service: ServiceProcess,
  cores: number,
  portkey: PortkeyProcess | { problem: string } = { problem: 'not started' },
  baseline?: ServiceProcess,
): Promise<ScenarioReport & { figures: OverheadFigures[] }> {
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: UPSTREAM_LATENCY_MS });
  const body = chatBody();
  const durationS = settings.quick ? 1 : 4;
  const direct = { url: `${simulator.origin}/v1/chat/completions`, body };
  const through = { url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization } };
  const gateway = portkey instanceof PortkeyProcess ? portkey : undefined;
  // The same call through Portkey, its OpenAI provider pointed at the simulator.
  const viaPortkey = gateway && { url: `${gateway.url}/v1/chat/completions`, body, headers: portkeyHeaders(`${simulator.origin}/v1`, 'sk-bench') };
  const viaBaseline = baseline && { url: `${baseline.url}/v1/chat/completions`, body, headers: { authorization: baseline.authorization } };
  const pids = { bench: process.pid, simulator: simulator.pid, service: service.pid, ...(gateway ? { portkey: gateway.pid } : {}), ...(baseline ? { baseline: baseline.pid } : {}) };
  const figures: OverheadFigures[] = [];

  // A freshly started process spends its first seconds compiling (V8's optimising compiler runs on
  // other threads): warm both sides at a real load once before anything is measured.
  settings.log('  warm-up of simulator and service (JIT)');
  await closedLoop({ ...direct, connections: 32, durationS: settings.quick ? 1 : 3 });
  await closedLoop({ ...through, connections: 32, durationS: settings.quick ? 1 : 3 });
  if (viaPortkey) await closedLoop({ ...viaPortkey, connections: 32, durationS: settings.quick ? 1 : 3 });
  if (viaBaseline) await closedLoop({ ...viaBaseline, connections: 32, durationS: settings.quick ? 1 : 3 });
  for (const connections of OVERHEAD_CONCURRENCY) {
    settings.log(`  c=${connections}: warm-up`);
    // JIT, connection set-up and the pool's sockets, on both sides, before anything is counted.
    await closedLoop({ ...direct, connections, durationS: settings.quick ? 0.3 : 1 });
    await closedLoop({ ...through, connections, durationS: settings.quick ? 0.3 : 1 });
    if (viaPortkey) await closedLoop({ ...viaPortkey, connections, durationS: settings.quick ? 0.3 : 1 });
    if (viaBaseline) await closedLoop({ ...viaBaseline, connections, durationS: settings.quick ? 0.3 : 1 });
    const runs = await alternate(settings, {
      direct: () => measure(() => closedLoop({ ...direct, connections, durationS }), { simulator, pids }),
      service: () => measure(() => closedLoop({ ...through, connections, durationS }), { simulator, service, pids }),
      ...(viaBaseline ? { baseline: () => measure(() => closedLoop({ ...viaBaseline, connections, durationS }), { simulator, service: baseline, pids }) } : {}),
      ...(viaPortkey ? { portkey: () => measure(() => closedLoop({ ...viaPortkey, connections, durationS }), { simulator, pids }) } : {}),
    });
    figures.push({ concurrency: connections, direct: runs.direct, service: runs.service, baseline: runs.baseline, portkey: runs.portkey });
  }

  const rows: string[][] = [];
  const ratioRows: string[][] = [];
  const series: CdfSeries[] = [];
  const portkeyLabel = `Portkey ${PORTKEY_VERSION}`;
  for (const { concurrency, direct: d, service: s, baseline: b, portkey: p } of figures) {
    const sides: [string, SideRun[]][] = [
      ['direct', d],
      ['service', s],
      ...(b ? [['baseline', b] as [string, SideRun[]]] : []),
      ...(p ? [[portkeyLabel, p] as [string, SideRun[]]] : []),
    ];
    for (const [side, runs] of sides) {
      const lat = summarize(latencies(runs));
      const cpu = cpuPerRequestUs(runs);
      const gatewayName = side === 'service' || side === 'baseline' ? side : side === portkeyLabel ? 'portkey' : undefined;
      rows.push([
        `c=${concurrency} ${side}`,
        fmt(throughput(runs)),
        ms(lat.p50),
        ms(lat.p95),
        ms(lat.p99),
        perRound(runs.map((r) => summarize(r.load.latenciesMs).p50)),
        gatewayName ? `${fmt(cpu[gatewayName])} (${perRound(runs.map((r) => cpuPerRequestUs([r])[gatewayName]))})` : '–',
        fmt(cpu.simulator),
        fmt(cpu.bench),
        `${gatewayName ? pct(processBusy(runs, gatewayName)) : '–'} / ${pct(processBusy(runs, 'simulator'))} / ${pct(processBusy(runs, 'bench'))}`,
        pct(machineBusy(runs, cores)),
        boundBy(runs, cores),
        String(Math.max(...runs.map((r) => r.upstream.connections))),
        statusSummary(mergeStatuses(runs)),
      ]);
      if (side === 'direct' || side === 'service') series.push({ label: `c=${concurrency} ${side}`, values: latencies(runs), dashed: side === 'direct', colour: OVERHEAD_CONCURRENCY.indexOf(concurrency as 1) });
    }
    const dLat = summarize(latencies(d));
    const sLat = summarize(latencies(s));
    ratioRows.push([
      `c=${concurrency}`,
      ratio(throughput(s) / throughput(d)),
      perRound(s.map((run, i) => run.load.okPerSecond / d[i].load.okPerSecond), '×'),
      ms(sLat.p50 - dLat.p50),
      ms(sLat.p99 - dLat.p99),
      p ? `${ratio(throughput(s) / throughput(p))} (${perRound(s.map((run, i) => run.load.okPerSecond / p[i].load.okPerSecond), '×')})` : '–',
      b ? `${fmt(median(b.map((run) => cpuPerRequestUs([run]).baseline)))} → ${fmt(median(s.map((run) => cpuPerRequestUs([run]).service)))}` : '–',
    ]);
  }

  const c32 = figures.find((f) => f.concurrency === 32)!;
  const c32Ratio = throughput(c32.service) / throughput(c32.direct);
  // The median of the rounds: one disturbed round does not move it.
  const c32CpuUs = median(c32.service.map((run) => cpuPerRequestUs([run]).service));
  const c32Portkey = c32.portkey && throughput(c32.service) / throughput(c32.portkey);
  const markdown = [
    `Simulator \`latencyMs: ${UPSTREAM_LATENCY_MS}\`, \`ttftMs: 0\`, non-streamed completions; service with \`LLM_MAX_CONNECTIONS=256\` (no request waits at the gate), caller auth on, rate limit off. ` +
      `autocannon, closed loop, ${durationS} s per side per round, ${settings.rounds} rounds alternating direct / service after a warm-up of both.`,
    '',
    table(
      ['side', 'req/s', 'p50', 'p95', 'p99', 'p50 by round', 'gateway CPU µs/req (by round)', 'simulator CPU µs/req', 'bench CPU µs/req', 'core busy: gateway / simulator / bench', 'machine busy', 'bound by', 'upstream conns', 'statuses'],
      rows,
    ),
    '',
    table(['concurrency', 'throughput service ÷ direct', 'by round', 'added p50', 'added p99', `throughput service ÷ ${portkeyLabel} (by round)`, 'CPU µs/req baseline → service (medians)'], ratioRows),
    '',
    baseline ? `"baseline" is BENCH_BASELINE (${process.env.BENCH_BASELINE}), built and run like the service, measured in the same rounds.` : '',
    '',
    gateway
      ? `${portkeyLabel} (\`@portkey-ai/gateway\`, installed by the bench into bench/.tools/) runs as its own process, its \`openai\` provider pointed at the same simulator (\`x-portkey-custom-host\`).`
      : `${portkeyLabel} was not measured: ${'problem' in portkey ? portkey.problem : 'unknown'}.`,
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
      {
        target: `service CPU ≤ ${CPU_TARGET_US} µs per proxied request at c=32 (median of rounds)`,
        measured: `${fmt(c32CpuUs)} µs (${perRound(c32.service.map((run) => cpuPerRequestUs([run]).service))})`,
        met: c32CpuUs <= CPU_TARGET_US,
      },
      {
        target: `throughput through the service ≥ ${PORTKEY_TARGET} × ${portkeyLabel} at c=32`,
        measured: c32Portkey === undefined ? 'not measured' : `${ratio(c32Portkey)} (${fmt(throughput(c32.service))} vs ${fmt(throughput(c32.portkey!))} req/s)`,
        met: c32Portkey === undefined ? undefined : c32Portkey >= PORTKEY_TARGET,
      },
    ],
    figures,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
