/**
 * Scenario 1: a pooled keep-alive upstream vs no pool (`LLM_MAX_KEEPALIVE=0`:
 * a new TCP connection and TLS handshake per request), over HTTPS with 20 ms
 * of delay each way. The service trusts the simulator through LLM_CA_FILE, as
 * the issue asks; the same pair again with the CA given by NODE_EXTRA_CA_CERTS
 * separates what the network round trips cost from what the LLM_CA_FILE code
 * path costs in CPU, per request and per new connection. (It once cost ~6 ms per
 * request and ~34 ms per connection: the agent's pool key held the whole CA
 * bundle, and every connection parsed it again. Both should now read ~0.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { clientPool } from '../load/undici-load';
import { cdfChart } from '../report/svg-charts';
import { fmt, median, ms, pct, ratio, summarize } from '../report/summary';
import {
  alternate,
  chatBody,
  cpuPerRequestUs,
  latencies,
  measure,
  othersNote,
  perRound,
  processBusy,
  table,
  throughput,
  total,
  type BenchSettings,
  type ScenarioReport,
  type SideRun,
} from './scenario';
import { ONE_WAY_DELAY_MS, startTlsUpstream, type Trust } from './tls-upstream';

const UPSTREAM_LATENCY_MS = 5;
const CONCURRENCY = 4;
const COLD_REQUESTS_PER_ROUND = 3;
const P50_CUT_TARGET = 0.4;

interface Side {
  label: string;
  /** For the chart legend. */
  short: string;
  env: Record<string, string>;
  trust: Trust;
}

const SIDES: Record<'pool' | 'noPool' | 'poolExtraCa' | 'noPoolExtraCa', Side> = {
  pool: { label: 'pool (keep-alive), LLM_CA_FILE', short: 'pool, LLM_CA_FILE', env: {}, trust: 'LLM_CA_FILE' },
  noPool: { label: 'no pool (LLM_MAX_KEEPALIVE=0), LLM_CA_FILE', short: 'no pool, LLM_CA_FILE', env: { LLM_MAX_KEEPALIVE: '0' }, trust: 'LLM_CA_FILE' },
  poolExtraCa: { label: 'pool, CA by NODE_EXTRA_CA_CERTS', short: 'pool, EXTRA_CA_CERTS', env: {}, trust: 'NODE_EXTRA_CA_CERTS' },
  noPoolExtraCa: { label: 'no pool, CA by NODE_EXTRA_CA_CERTS', short: 'no pool, EXTRA_CA_CERTS', env: { LLM_MAX_KEEPALIVE: '0' }, trust: 'NODE_EXTRA_CA_CERTS' },
};

interface PoolRound {
  /** Requests sent each right after the pool's idle sockets were closed: a new connection each. */
  coldMs: number[];
  steady: SideRun;
}

export async function poolVsNoPool(settings: BenchSettings, cores: number): Promise<ScenarioReport> {
  const upstream = await startTlsUpstream();
  const { simulator, proxy } = upstream;
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: UPSTREAM_LATENCY_MS });
  const services = Object.fromEntries(
    await Promise.all(Object.entries(SIDES).map(async ([key, side]) => [key, await upstream.startService(`service-${key}`, side.env, side.trust)] as const)),
  ) as Record<keyof typeof SIDES, ServiceProcess>;
  const body = chatBody();
  const amount = settings.quick ? 40 : 200;

  const round = async (service: ServiceProcess): Promise<PoolRound> => {
    const client = clientPool(service.url, 1);
    const coldMs: number[] = [];
    for (let k = 0; k < COLD_REQUESTS_PER_ROUND; k++) {
      await service.closeIdleSockets('sim');
      await sleep(50);
      const started = performance.now();
      const response = await client.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: service.authorization },
        body,
      });
      await response.body.dump();
      if (response.statusCode === 200) coldMs.push(performance.now() - started);
    }
    await client.close();
    // Refill the pool to the steady state's concurrency, uncounted: the cold phase left one socket.
    await closedLoop({ url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization }, connections: CONCURRENCY, amount: 2 * CONCURRENCY });
    const steady = await measure(
      () => closedLoop({ url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization }, connections: CONCURRENCY, amount, maxDurationS: 60 }),
      { simulator, service, pids: { bench: process.pid, service: service.pid, simulator: simulator.pid, proxy: proxy.pid } },
    );
    return { coldMs, steady };
  };

  // JIT warm-up: a freshly started service needs thousands of requests before its code is optimised,
  // and until then costs two to three times the CPU per request. A pool warms fast; a side without
  // one pays a handshake per request (and LLM_CA_FILE ~35 ms of CPU per connection), so it gets fewer.
  settings.log('  warm-up (JIT)');
  for (const [key, service] of Object.entries(services)) {
    const pooled = !key.startsWith('noPool');
    const amount = settings.quick ? (pooled ? 100 : 20) : pooled ? 2_000 : key === 'noPool' ? 150 : 400;
    await closedLoop({ url: `${service.url}/v1/chat/completions`, body, headers: { authorization: service.authorization }, connections: pooled ? 64 : 8, amount, maxDurationS: 30 });
  }
  const runs = await alternate(settings, {
    pool: () => round(services.pool),
    noPool: () => round(services.noPool),
    poolExtraCa: () => round(services.poolExtraCa),
    noPoolExtraCa: () => round(services.noPoolExtraCa),
  });
  await Promise.all(Object.values(services).map((s) => s.stop()));
  await upstream.stop();

  const steadyOf = (key: keyof typeof SIDES) => runs[key].map((r) => r.steady);
  const rows = (Object.keys(SIDES) as (keyof typeof SIDES)[]).map((key) => {
    const steady = steadyOf(key);
    const lat = summarize(latencies(steady));
    const requests = total(steady, (r) => r.upstream.requests);
    const cpu = cpuPerRequestUs(steady);
    return [
      SIDES[key].label,
      ms(median(runs[key].flatMap((r) => r.coldMs))),
      fmt(throughput(steady)),
      ms(lat.p50),
      ms(lat.p95),
      ms(lat.p99),
      perRound(steady.map((r) => summarize(r.load.latenciesMs).p50)),
      `${total(steady, (r) => r.upstream.connections)} / ${requests}`,
      `${total(steady, (r) => r.upstream.tlsHandshakes)} / ${total(steady, (r) => r.upstream.tlsSessionsResumed)}`,
      fmt(cpu.service),
      pct(processBusy(steady, 'service')),
    ];
  });

  const p50 = (key: keyof typeof SIDES) => summarize(latencies(steadyOf(key))).p50;
  const pool = summarize(latencies(steadyOf('pool')));
  const noPool = summarize(latencies(steadyOf('noPool')));
  const cut = 1 - pool.p50 / noPool.p50;
  const cutExtraCa = 1 - p50('poolExtraCa') / p50('noPoolExtraCa');
  const cutByRound = (a: keyof typeof SIDES, b: keyof typeof SIDES) =>
    steadyOf(a)
      .map((r, i) => pct(1 - summarize(r.load.latenciesMs).p50 / summarize(steadyOf(b)[i].load.latenciesMs).p50))
      .join(' / ');
  const coldPool = median(runs.pool.flatMap((r) => r.coldMs));
  const serviceCpu = (key: keyof typeof SIDES) => cpuPerRequestUs(steadyOf(key)).service;

  const markdown = [
    `Simulator over HTTPS (self-signed EC P-256 certificate), \`latencyMs: ${UPSTREAM_LATENCY_MS}\`, behind \`bench/latency-proxy.ts\` adding ${ONE_WAY_DELAY_MS} ms each way ` +
      `(a round trip is ${2 * ONE_WAY_DELAY_MS} ms; a new connection also pays the emulated TCP handshake round trip). Service defaults otherwise (\`LLM_MAX_CONNECTIONS=64\`). ` +
      `Per side and round: ${COLD_REQUESTS_PER_ROUND} "first requests", each right after the pool's idle sockets were closed (admin route), then (after ${2 * CONCURRENCY} uncounted requests that refill the pool) ${amount} requests at c=${CONCURRENCY} (autocannon) for the steady state. ` +
      `${settings.rounds} rounds, sides alternating, after a JIT warm-up of each service. ` +
      'Node\'s agent caches TLS sessions, so after the first connection the simulator sees resumed sessions rather than full handshakes; in TLS 1.3 a resumption still costs its round trip.',
    '',
    table(
      ['side', 'first request (cold pool), median', 'steady req/s', 'p50', 'p95', 'p99', 'p50 by round', 'upstream conns / requests', 'TLS full / resumed', 'service CPU µs/req', 'service core busy'],
      rows,
    ),
    '',
    table(
      ['comparison', 'value', 'by round'],
      [
        ['steady p50 cut by the pool (1 − pool ÷ no pool), LLM_CA_FILE', pct(cut), cutByRound('pool', 'noPool')],
        ['steady p50 cut by the pool, NODE_EXTRA_CA_CERTS', pct(cutExtraCa), cutByRound('poolExtraCa', 'noPoolExtraCa')],
        ['steady p99: pool ÷ no pool, LLM_CA_FILE', ratio(pool.p99 / noPool.p99), ''],
        ['pooled first request ÷ pooled steady p50 (what a cold pool costs once)', ratio(coldPool / pool.p50), ''],
        ['service CPU per pooled request spent on the LLM_CA_FILE path (pool: LLM_CA_FILE − EXTRA_CA_CERTS)', `${fmt(serviceCpu('pool') - serviceCpu('poolExtraCa'))} µs`, ''],
        ['service CPU per new connection spent on the LLM_CA_FILE path (no pool: LLM_CA_FILE − EXTRA_CA_CERTS)', `${fmt(serviceCpu('noPool') - serviceCpu('noPoolExtraCa'))} µs`, ''],
        ['steady p50 added by LLM_CA_FILE: pool / no pool', `${ms(pool.p50 - p50('poolExtraCa'))} / ${ms(noPool.p50 - p50('noPoolExtraCa'))}`, ''],
      ],
    ),
    '',
    othersNote((Object.keys(SIDES) as (keyof typeof SIDES)[]).flatMap(steadyOf), cores),
  ].join('\n');

  return {
    title: '1. Pool vs no pool over HTTPS, 20 ms each way',
    markdown,
    charts: [
      {
        file: 's1-pool-vs-no-pool-cdf.svg',
        svg: cdfChart(
          `Scenario 1: steady-state latency over HTTPS, ${ONE_WAY_DELAY_MS} ms each way`,
          'latency, ms (log scale)',
          (Object.keys(SIDES) as (keyof typeof SIDES)[]).map((key) => ({ label: SIDES[key].short, values: latencies(steadyOf(key)), dashed: SIDES[key].trust === 'NODE_EXTRA_CA_CERTS', colour: key.startsWith('noPool') ? 1 : 0 })),
        ),
        caption: 'Latency CDF: pool and no pool, CA by LLM_CA_FILE (solid) and by NODE_EXTRA_CA_CERTS (dashed)',
      },
    ],
    targets: [
      {
        target: `pool vs no pool: p50 cut ≥ ${pct(P50_CUT_TARGET)} with ${ONE_WAY_DELAY_MS} ms each way`,
        measured: `${pct(cut)} (p50 ${ms(pool.p50)} vs ${ms(noPool.p50)}); ${pct(cutExtraCa)} with the CA by NODE_EXTRA_CA_CERTS`,
        met: cut >= P50_CUT_TARGET,
      },
    ],
  };
}
