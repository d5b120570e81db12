/** What every scenario shares: settings, A/B rounds, per-side measurement, and the shape of its report. */
import type { SimulatorCounters } from '../../src/simulator/upstream-simulator';
import { CpuMeter, type PoolStats, type ServiceProcess, type SimulatorProcess } from '../harness/processes';
import type { LoadResult } from '../load/closed-loop';
import { fmt } from '../report/summary';

export interface BenchSettings {
  /** BENCH_QUICK=1: a smoke run of seconds, not minutes; numbers are indicative only. */
  quick: boolean;
  /** A/B rounds per comparison. */
  rounds: number;
  cores: number;
  log(message: string): void;
  /** Before each side of a comparison: wait a little for other work on the machine to pass (bounded per side and per run). */
  quietGate(): Promise<void>;
}

export interface TargetVerdict {
  target: string;
  measured: string;
  /** undefined: not measured in this run. */
  met?: boolean;
  note?: string;
}

export interface Chart {
  /** File name in bench/results/, fixed so a new run overwrites the last. */
  file: string;
  svg: string;
  caption: string;
}

export interface ScenarioReport {
  title: string;
  markdown: string;
  charts: Chart[];
  targets: TargetVerdict[];
}

/** The request the bench sends, directly or through the service (model `sim-1` on the default upstream). */
export function chatBody(options: { stream?: boolean; maxTokens?: number; content?: string } = {}): string {
  return JSON.stringify({
    model: 'sim-1',
    stream: options.stream ?? false,
    max_tokens: options.maxTokens ?? 32,
    messages: [
      {
        role: 'user',
        content: options.content ?? '[a] Keep-alive reuses sockets across requests.\n[b] Each new TLS connection costs round trips.\nWhy reuse sockets?',
      },
    ],
  });
}

/**
 * Runs the sides of a comparison alternately, A, B, A, B ..., so that machine
 * noise (another process, a GC, thermal state) falls on both; returns each side's rounds.
 */
export async function alternate<T>(settings: BenchSettings, sides: Record<string, (round: number) => Promise<T>>): Promise<Record<string, T[]>> {
  const results: Record<string, T[]> = Object.fromEntries(Object.keys(sides).map((name) => [name, []]));
  for (let round = 0; round < settings.rounds; round++) {
    for (const [name, run] of Object.entries(sides)) {
      await settings.quietGate();
      settings.log(`    round ${round + 1}/${settings.rounds}: ${name}`);
      results[name].push(await run(round));
    }
  }
  return results;
}

export interface SideRun<L extends LoadResult = LoadResult> {
  load: L;
  wallMs: number;
  /** CPU ms of each process during the run. */
  cpuMs: Record<string, number>;
  /** CPU ms used meanwhile by every other process on the machine (other users' work, idle bench children). */
  othersCpuMs: number;
  /** What the simulator counted during the run (counters reset just before). */
  upstream: SimulatorCounters;
  /** The service pool's counters' change during the run, when a service was involved. */
  pool?: PoolDelta;
}

export interface PoolDelta {
  created: number;
  tlsHandshakes: number;
  tlsSessionsResumed: number;
  closedByReason: Record<string, number>;
  requests: number;
  reused: number;
  poolExhausted: number;
}

function poolDelta(before: PoolStats, after: PoolStats): PoolDelta {
  const closedByReason: Record<string, number> = {};
  for (const [reason, count] of Object.entries(after.sockets.closedByReason)) closedByReason[reason] = count - (before.sockets.closedByReason[reason] ?? 0);
  return {
    created: after.sockets.created - before.sockets.created,
    tlsHandshakes: after.sockets.tlsHandshakes - before.sockets.tlsHandshakes,
    tlsSessionsResumed: after.sockets.tlsSessionsResumed - before.sockets.tlsSessionsResumed,
    closedByReason,
    requests: after.requests.total - before.requests.total,
    reused: after.requests.reused - before.requests.reused,
    poolExhausted: after.poolExhausted.total - before.poolExhausted.total,
  };
}

/**
 * One side of one round: simulator counters zeroed, CPU of every process metered,
 * the service's pool counters read before and after.
 */
export async function measure<L extends LoadResult>(
  load: () => Promise<L>,
  context: { simulator: SimulatorProcess; service?: ServiceProcess; upstream?: string; pids: Record<string, number> },
): Promise<SideRun<L>> {
  await context.simulator.reset();
  const before = context.service ? await context.service.poolStats(context.upstream ?? 'sim') : undefined;
  const meter = new CpuMeter(context.pids);
  const result = await load();
  const { wallMs, cpuMs, othersCpuMs } = meter.stop();
  const upstream = await context.simulator.counters();
  const after = context.service ? await context.service.poolStats(context.upstream ?? 'sim') : undefined;
  return { load: result, wallMs, cpuMs, othersCpuMs, upstream, pool: before && after ? poolDelta(before, after) : undefined };
}

/** Sum of a numeric field over rounds. */
export function total<T>(runs: readonly T[], pick: (run: T) => number): number {
  return runs.reduce((sum, run) => sum + pick(run), 0);
}

/** All 2xx latencies of all rounds. */
export function latencies(runs: readonly SideRun[]): number[] {
  return runs.flatMap((run) => run.load.latenciesMs);
}

/** 2xx responses per second over the rounds (total responses / total load time). */
export function throughput(runs: readonly SideRun[]): number {
  return (total(runs, (r) => r.load.latenciesMs.length) / total(runs, (r) => r.load.wallMs)) * 1000;
}

/** CPU µs per 2xx response of each process, over all rounds. */
export function cpuPerRequestUs(runs: readonly SideRun[]): Record<string, number> {
  const requests = total(runs, (r) => r.load.latenciesMs.length + r.load.errorLatenciesMs.length);
  const out: Record<string, number> = {};
  for (const name of Object.keys(runs[0]?.cpuMs ?? {})) out[name] = (total(runs, (r) => r.cpuMs[name]) / requests) * 1000;
  return out;
}

/** Share of the machine's cores busy during the runs, all metered processes together. */
export function machineBusy(runs: readonly SideRun[], cores: number): number {
  const cpu = total(runs, (r) => Object.values(r.cpuMs).reduce((a, b) => a + b, 0));
  return cpu / (total(runs, (r) => r.wallMs) * cores);
}

/** Busy share of one core for one process (1 = a whole core: that process is saturated). */
export function processBusy(runs: readonly SideRun[], name: string): number {
  return total(runs, (r) => r.cpuMs[name] ?? 0) / total(runs, (r) => r.wallMs);
}

/** Share of the machine used by other processes during these runs: over all of them, and the worst single run. */
export function othersLoad(runs: readonly Pick<SideRun, 'othersCpuMs' | 'wallMs'>[], cores: number): { mean: number; worst: number } {
  return {
    mean: total(runs, (r) => r.othersCpuMs) / (total(runs, (r) => r.wallMs) * cores),
    worst: Math.max(0, ...runs.map((r) => r.othersCpuMs / (r.wallMs * cores))),
  };
}

/** One sentence on foreign load for a scenario's runs, so a reader knows how clean the figures are. */
export function othersNote(runs: readonly Pick<SideRun, 'othersCpuMs' | 'wallMs'>[], cores: number): string {
  const { mean, worst } = othersLoad(runs, cores);
  const level = worst < 0.05 ? 'a quiet machine' : worst < 0.2 ? 'some foreign load' : '**significant foreign load: treat absolute figures with care; the A/B ratios are the robust part**';
  return `Other processes used ${(mean * 100).toFixed(1)} % of the machine's CPU during these runs on average, ${(worst * 100).toFixed(1)} % in the worst run (${level}).`;
}

/**
 * What set the pace of these runs: a process whose JavaScript thread was (nearly) always busy,
 * the machine's cores all busy, or neither (the run was bound by latency: the upstream's, the network's).
 */
export function boundBy(runs: readonly SideRun[], cores: number): string {
  const saturated = Object.keys(runs[0]?.cpuMs ?? {}).filter((name) => processBusy(runs, name) >= 0.9);
  if (machineBusy(runs, cores) >= 0.9) return `machine (all ${cores} cores)${saturated.length ? `; ${saturated.join(', ')} saturated` : ''}`;
  return saturated.length ? `CPU of ${saturated.join(', ')}` : 'latency (no process saturated)';
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map((h, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** `a / b / c`: a value per round, to show the spread behind a pooled figure. */
export function perRound(values: readonly number[], unit = ''): string {
  return values.map((v) => `${fmt(v)}${unit}`).join(' / ');
}

export function statusSummary(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ');
}

export function mergeStatuses(runs: readonly SideRun[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const run of runs) for (const [status, count] of Object.entries(run.load.statuses)) merged[status] = (merged[status] ?? 0) + count;
  return merged;
}
