/**
 * Scenario 2: keep-alive coverage. A pool that may keep fewer idle sockets than
 * it may open (`LLM_MAX_KEEPALIVE` = 2/3 of `LLM_MAX_CONNECTIONS`) against one
 * that keeps them all, under bursts that fill the pool: at the end of every
 * burst the sockets above the keep-alive limit are closed, and the next burst
 * opens them again (TCP + TLS handshakes over a 40 ms round trip).
 */
import type { ServiceProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { burstLoad, clientPool } from '../load/undici-load';
import { cdfChart, lineChart, type LineSeries } from '../report/svg-charts';
import { fmt, ms, pct, summarize } from '../report/summary';
import { alternate, chatBody, latencies, measure, othersNote, perRound, table, total, type BenchSettings, type ScenarioReport, type SideRun } from './scenario';
import { ONE_WAY_DELAY_MS, startTlsUpstream, type Trust } from './tls-upstream';

const MAX_CONNECTIONS = 48;
const UPSTREAM_LATENCY_MS = 5;
const GAP_MS = 100;
const SAMPLE_EVERY_MS = 50;
/** As an operator with a private CA would configure it (scenario 1 checks that this costs nothing extra). */
const TRUST: Trust = 'LLM_CA_FILE';

const SIDES = {
  short: { label: `keep-alive ${(MAX_CONNECTIONS * 2) / 3} of ${MAX_CONNECTIONS}`, tag: `${(MAX_CONNECTIONS * 2) / 3}/${MAX_CONNECTIONS}`, keepAlive: (MAX_CONNECTIONS * 2) / 3 },
  equal: { label: `keep-alive ${MAX_CONNECTIONS} of ${MAX_CONNECTIONS}`, tag: `${MAX_CONNECTIONS}/${MAX_CONNECTIONS}`, keepAlive: MAX_CONNECTIONS },
} as const;
type SideKey = keyof typeof SIDES;

interface SocketSample {
  tS: number;
  open: number;
  upstreamOpened: number;
  churned: number;
}

interface CoverageRound extends SideRun {
  samples: SocketSample[];
}

function closedSummary(runs: readonly SideRun[]): string {
  const byReason: Record<string, number> = {};
  for (const run of runs) for (const [reason, n] of Object.entries(run.pool?.closedByReason ?? {})) if (n) byReason[reason] = (byReason[reason] ?? 0) + n;
  return Object.entries(byReason).map(([reason, n]) => `${reason}: ${n}`).join(', ') || 'none';
}

export async function keepAliveCoverage(settings: BenchSettings, cores: number): Promise<ScenarioReport> {
  const upstream = await startTlsUpstream();
  const { simulator, proxy } = upstream;
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: UPSTREAM_LATENCY_MS });
  const services = {} as Record<SideKey, ServiceProcess>;
  await Promise.all(
    (Object.keys(SIDES) as SideKey[]).map(async (key) => {
      services[key] = await upstream.startService(
        `service-keepalive-${key}`,
        { LLM_MAX_CONNECTIONS: String(MAX_CONNECTIONS), LLM_MAX_KEEPALIVE: String(SIDES[key].keepAlive) },
        TRUST,
      );
    }),
  );
  const body = chatBody();
  const bursts = settings.quick ? 4 : 20;

  const round = async (key: SideKey): Promise<CoverageRound> => {
    const service = services[key];
    const client = clientPool(service.url, MAX_CONNECTIONS);
    const target = { origin: service.url, path: '/v1/chat/completions', headers: { authorization: service.authorization } };
    // Bursts that are not counted: while the other side ran, this pool's idle sockets expired
    // (LLM_KEEPALIVE_EXPIRY_MS is 4 s), and re-opening them is not what this scenario measures.
    await burstLoad(client, target, body, { bursts: 3, size: MAX_CONNECTIONS, gapMs: GAP_MS, requestTimeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, GAP_MS));
    const samples: SocketSample[] = [];
    const side = await measure(
      async () => {
        // Sampled from here, after measure() has zeroed the simulator's counters.
        const started = performance.now();
        const churnAtStart = (await service.poolStats('sim')).sockets.closedByReason.keepalive_limit ?? 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const [stats, counters] = await Promise.all([service.poolStats('sim'), simulator.counters()]);
            samples.push({
              tS: (performance.now() - started) / 1000,
              open: stats.sockets.open,
              upstreamOpened: counters.connections,
              churned: (stats.sockets.closedByReason.keepalive_limit ?? 0) - churnAtStart,
            });
            await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
          }
        })();
        const result = await burstLoad(client, target, body, { bursts, size: MAX_CONNECTIONS, gapMs: GAP_MS, requestTimeoutMs: 30_000 });
        sampling = false;
        await sampler;
        return result;
      },
      { simulator, service, pids: { bench: process.pid, service: service.pid, simulator: simulator.pid, proxy: proxy.pid } },
    );
    await client.close();
    return { ...side, samples };
  };

  settings.log('  warm-up (JIT)');
  for (const key of Object.keys(SIDES) as SideKey[]) {
    const service = services[key];
    await closedLoop({ url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization }, connections: MAX_CONNECTIONS, amount: settings.quick ? 100 : 2_000, maxDurationS: 30 });
  }
  const runs = await alternate(settings, { short: () => round('short'), equal: () => round('equal') });
  await Promise.all(Object.values(services).map((s) => s.stop()));
  await upstream.stop();

  const perSecond = (rs: readonly SideRun[], pick: (r: SideRun) => number) => (total(rs, pick) / total(rs, (r) => r.wallMs)) * 1000;
  const rows = (Object.keys(SIDES) as SideKey[]).map((key) => {
    const rs = runs[key];
    const lat = summarize(latencies(rs));
    return [
      SIDES[key].label,
      fmt(perSecond(rs, (r) => r.pool?.closedByReason.keepalive_limit ?? 0)),
      fmt(perSecond(rs, (r) => r.upstream.connections)),
      fmt(total(rs, (r) => r.upstream.connections) / (rs.length * bursts)),
      `${total(rs, (r) => r.upstream.tlsHandshakes)} / ${total(rs, (r) => r.upstream.tlsSessionsResumed)}`,
      pct(total(rs, (r) => r.pool?.reused ?? 0) / total(rs, (r) => r.pool?.requests ?? 0)),
      ms(lat.p50),
      ms(lat.p95),
      ms(lat.p99),
      perRound(rs.map((r) => summarize(r.load.latenciesMs).p99)),
      closedSummary(rs),
      String(total(rs, (r) => r.load.transportErrors + r.load.errorLatenciesMs.length)),
    ];
  });

  const short = summarize(latencies(runs.short));
  const equal = summarize(latencies(runs.equal));
  // The two humps: share of requests slower than the fast hump plus one handshake round trip.
  const slowCut = equal.p50 + 2 * ONE_WAY_DELAY_MS;
  const slowShare = (rs: readonly SideRun[]) => latencies(rs).filter((v) => v > slowCut).length / latencies(rs).length;

  const socketSeries: LineSeries[] = [];
  (Object.keys(SIDES) as SideKey[]).forEach((key, colour) => {
    const samples = runs[key][0].samples;
    socketSeries.push({ label: `${SIDES[key].tag}: open in pool`, points: samples.map((s) => [s.tS, s.open] as const), steps: true, colour });
    socketSeries.push({ label: `${SIDES[key].tag}: opened so far`, points: samples.map((s) => [s.tS, s.upstreamOpened] as const), dashed: true, colour });
  });

  const markdown = [
    `\`LLM_MAX_CONNECTIONS=${MAX_CONNECTIONS}\`; HTTPS simulator (\`latencyMs: ${UPSTREAM_LATENCY_MS}\`) behind the latency proxy, ${ONE_WAY_DELAY_MS} ms each way; ` +
      `the service trusts the simulator through ${TRUST}. ` +
      `Load: bursts of ${MAX_CONNECTIONS} simultaneous requests (the pool's size: every socket busy), ${GAP_MS} ms pause after each burst ends, ${bursts} bursts per side per round, ` +
      `${settings.rounds} rounds alternating after a warm-up of each service; each round starts with 3 uncounted bursts that re-open the sockets that expired while the other side ran (a pool can still grow a little after that: connections opened with none closed are growth, not churn). Latency is measured from the burst's start. Machine: ${cores} cores.`,
    '',
    table(
      ['side', 'sockets churned/s (keepalive_limit)', 'upstream conns opened/s', 'upstream conns per burst', 'TLS full / resumed', 'requests on a reused socket', 'p50', 'p95', 'p99', 'p99 by round', 'pool sockets closed, by reason', 'errors'],
      rows,
    ),
    '',
    `Requests slower than ${ms(slowCut)} (fast hump + one handshake round trip): ${pct(slowShare(runs.short))} with short coverage, ${pct(slowShare(runs.equal))} with equal coverage ` +
      `(expected with short coverage: ${pct(1 - SIDES.short.keepAlive / MAX_CONNECTIONS)} — the sockets above the keep-alive limit). p99 short ÷ equal: ${(short.p99 / equal.p99).toFixed(2)}×.`,
    '',
    othersNote([...runs.short, ...runs.equal], cores),
  ].join('\n');

  return {
    title: '2. Keep-alive coverage at saturation: 2/3 vs equal',
    markdown,
    charts: [
      {
        file: 's2-keepalive-coverage-cdf.svg',
        svg: cdfChart(`Scenario 2: latency in bursts of ${MAX_CONNECTIONS}, ${ONE_WAY_DELAY_MS} ms each way`, 'latency from burst start, ms (log scale)', [
          { label: SIDES.short.label, values: latencies(runs.short) },
          { label: SIDES.equal.label, values: latencies(runs.equal) },
        ]),
        caption: 'Latency CDF: short keep-alive coverage shows two humps',
      },
      {
        file: 's2-sockets-over-time.svg',
        svg: lineChart('Scenario 2: pool sockets over time (first round of each side)', 'seconds since the round started', 'sockets', socketSeries),
        caption: 'Open sockets in the pool (service stats) and upstream connections opened so far (simulator), first round of each side',
      },
    ],
    // The issue sets no numeric target for coverage; the table and the charts are the result.
    targets: [],
  };
}
