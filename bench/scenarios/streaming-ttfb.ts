/**
 * Scenario 4: time to first byte of a streamed completion, direct vs through
 * the service. The first body byte is the first SSE event (the role chunk), which
 * the simulator sends with its headers once its time to first token has passed.
 * A third side goes to the simulator through a bare TCP relay (the latency proxy
 * with no delay): what one more process in the path costs on this machine, with
 * no HTTP work at all, so the service's own share of the overhead can be told apart.
 */
import { ProxyProcess, type ServiceProcess, type SimulatorProcess } from '../harness/processes';
import { clientPool, streamLoop, type StreamTiming } from '../load/undici-load';
import { cdfChart, type CdfSeries } from '../report/svg-charts';
import { fmt, ms, pct, summarize } from '../report/summary';
import { alternate, chatBody, cpuPerRequestUs, machineBusy, measure, othersNote, perRound, processBusy, table, type BenchSettings, type ScenarioReport, type SideRun } from './scenario';

const TTFT_MS = 20;
const CONCURRENCY = [1, 16] as const;
const OVERHEAD_TARGET_MS = 2;

interface StreamRun extends SideRun {
  timings: StreamTiming[];
}

export async function streamingTtfb(settings: BenchSettings, simulator: SimulatorProcess, service: ServiceProcess, cores: number, baseline?: ServiceProcess): Promise<ScenarioReport> {
  await simulator.configure({ ttftMs: TTFT_MS, tokensPerSecond: 0, latencyMs: 0 });
  const body = chatBody({ stream: true, maxTokens: 16 });
  const durationS = settings.quick ? 1 : 3;
  const relay = await ProxyProcess.start(simulator.port, 0);
  const relayOrigin = `http://127.0.0.1:${relay.port}`;
  const pids = { bench: process.pid, simulator: simulator.pid, service: service.pid, relay: relay.pid, ...(baseline ? { baseline: baseline.pid } : {}) };
  const directPool = clientPool(simulator.origin, 32);
  const relayPool = clientPool(relayOrigin, 32);
  const servicePool = clientPool(service.url, 32);
  const baselinePool = baseline && clientPool(baseline.url, 32);
  const viaBaseline = baseline && { origin: baseline.url, path: '/v1/chat/completions', headers: { authorization: baseline.authorization } };
  const direct = { origin: simulator.origin, path: '/v1/chat/completions' };
  const relayed = { origin: relayOrigin, path: '/v1/chat/completions' };
  const through = { origin: service.url, path: '/v1/chat/completions', headers: { authorization: service.authorization } };

  const run = async (pool: typeof directPool, target: typeof direct, concurrency: number, withService: boolean | ServiceProcess): Promise<StreamRun> => {
    let timings: StreamTiming[] = [];
    let failures = 0;
    const side = await measure(
      async () => {
        const started = performance.now();
        ({ timings, failures } = await streamLoop(pool, target, body, concurrency, durationS));
        const wallMs = performance.now() - started;
        const firstBytes = timings.map((t) => t.firstByteMs);
        return { latenciesMs: firstBytes, errorLatenciesMs: [], statuses: { 200: timings.length }, transportErrors: failures, wallMs, okPerSecond: (timings.length / wallMs) * 1000 };
      },
      { simulator, service: withService === true ? service : withService || undefined, pids },
    );
    return { ...side, timings };
  };

  // The streamed path has code of its own (SSE parsing, re-encoding): warm it before measuring.
  settings.log('  warm-up of the streamed path (JIT)');
  await streamLoop(servicePool, through, body, 16, settings.quick ? 1 : 3);
  const results: { concurrency: number; direct: StreamRun[]; relay: StreamRun[]; service: StreamRun[]; baseline?: StreamRun[] }[] = [];
  for (const concurrency of CONCURRENCY) {
    settings.log(`  c=${concurrency}: warm-up`);
    await streamLoop(directPool, direct, body, concurrency, settings.quick ? 0.3 : 1);
    await streamLoop(relayPool, relayed, body, concurrency, settings.quick ? 0.3 : 1);
    await streamLoop(servicePool, through, body, concurrency, settings.quick ? 0.3 : 1);
    if (baselinePool && viaBaseline) await streamLoop(baselinePool, viaBaseline, body, concurrency, settings.quick ? 0.3 : 1);
    const runs = await alternate(settings, {
      direct: () => run(directPool, direct, concurrency, false),
      relay: () => run(relayPool, relayed, concurrency, false),
      service: () => run(servicePool, through, concurrency, true),
      ...(baselinePool && viaBaseline ? { baseline: () => run(baselinePool, viaBaseline, concurrency, baseline!) } : {}),
    });
    results.push({ concurrency, direct: runs.direct, relay: runs.relay, service: runs.service, baseline: runs.baseline });
  }
  await Promise.all([directPool.close(), relayPool.close(), servicePool.close(), baselinePool?.close()]);
  await relay.stop();

  const rows: string[][] = [];
  const overheadRows: string[][] = [];
  const series: CdfSeries[] = [];
  const overheadAt: Record<number, number> = {};
  for (const { concurrency, direct: d, relay: r, service: s, baseline: b } of results) {
    const sides: [string, StreamRun[]][] = [
      ['direct', d],
      ['bare TCP relay', r],
      ['service', s],
      ...(b ? [['baseline', b] as [string, StreamRun[]]] : []),
    ];
    for (const [side, runs] of sides) {
      const first = summarize(runs.flatMap((r) => r.timings.map((t) => t.firstByteMs)));
      const whole = summarize(runs.flatMap((r) => r.timings.map((t) => t.totalMs)));
      rows.push([
        `c=${concurrency} ${side}`,
        String(first.count),
        ms(first.p50),
        ms(first.p95),
        ms(first.p99),
        perRound(runs.map((r) => summarize(r.timings.map((t) => t.firstByteMs)).p50)),
        ms(whole.p50),
        side === 'service' || side === 'baseline' ? fmt(cpuPerRequestUs(runs)[side]) : '–',
        `${side === 'service' || side === 'baseline' ? pct(processBusy(runs, side)) : '–'} / ${pct(processBusy(runs, 'simulator'))} / ${pct(processBusy(runs, 'bench'))}`,
        pct(machineBusy(runs, cores)),
        String(runs.reduce((n, r) => n + r.load.transportErrors, 0)),
      ]);
      if (side === 'direct' || side === 'service') {
        series.push({ label: `c=${concurrency} ${side}`, values: runs.flatMap((run) => run.timings.map((t) => t.firstByteMs)), dashed: side === 'direct', colour: CONCURRENCY.indexOf(concurrency as 1) });
      }
    }
    const rFirst = summarize(r.flatMap((run) => run.timings.map((t) => t.firstByteMs)));
    const dFirst = summarize(d.flatMap((r) => r.timings.map((t) => t.firstByteMs)));
    const sFirst = summarize(s.flatMap((r) => r.timings.map((t) => t.firstByteMs)));
    overheadAt[concurrency] = sFirst.p50 - dFirst.p50;
    overheadRows.push([
      `c=${concurrency}`,
      ms(sFirst.p50 - dFirst.p50),
      ms(rFirst.p50 - dFirst.p50),
      ms(sFirst.p50 - rFirst.p50),
      perRound(s.map((run, i) => summarize(run.timings.map((t) => t.firstByteMs)).p50 - summarize(d[i].timings.map((t) => t.firstByteMs)).p50), ' ms'),
      ms(sFirst.p95 - dFirst.p95),
      ms(sFirst.p99 - dFirst.p99),
      b ? ms(summarize(b.flatMap((run) => run.timings.map((t) => t.firstByteMs))).p50 - dFirst.p50) : '–',
    ]);
  }

  const markdown = [
    `Simulator \`ttftMs: ${TTFT_MS}\`, unpaced tokens, 16 tokens per answer; the same service as scenario 3. ` +
      `undici client, closed loop, ${durationS} s per side per round, ${settings.rounds} rounds alternating (direct, bare TCP relay, service) after a warm-up. ` +
      'TTFB = request sent → first body byte (the first SSE event); "whole" = → last byte.',
    '',
    table(['side', 'streams', 'TTFB p50', 'TTFB p95', 'TTFB p99', 'TTFB p50 by round', 'whole p50', 'service CPU µs/stream', 'core busy: service / simulator / bench', 'machine busy', 'failures'], rows),
    '',
    table(['concurrency', 'TTFB overhead p50 (service − direct)', 'of which one more process hop (relay − direct)', 'service beyond a hop (service − relay)', 'overhead by round', 'overhead p95', 'overhead p99', 'baseline overhead p50'], overheadRows),
    '',
    othersNote(results.flatMap((r) => [...r.direct, ...r.service]), cores),
  ].join('\n');

  return {
    title: '4. Streaming: time to first byte, direct vs through the service',
    markdown,
    charts: [{ file: 's4-streaming-ttfb-cdf.svg', svg: cdfChart(`Scenario 4: streaming TTFB, ${TTFT_MS} ms upstream TTFT — direct (dashed) vs service`, 'time to first byte, ms (log scale)', series), caption: 'TTFB CDF, direct (dashed) and through the service' }],
    targets: [
      {
        target: `streaming TTFB overhead ≤ ${OVERHEAD_TARGET_MS} ms (p50, c=1)`,
        measured: `${ms(overheadAt[1])} at c=1; ${ms(overheadAt[16])} at c=16`,
        met: overheadAt[1] <= OVERHEAD_TARGET_MS,
      },
    ],
  };
}
