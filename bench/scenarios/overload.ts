/**
 * Scenario 5: overload at 4 × capacity, open loop. How much is shed with 503
 * POOL_EXHAUSTED, how fast the 503s come back, and what happens to the latency
 * of the requests that are admitted — with the default queue (256 waiting up to
 * 5 s) and with a service that sheds at once (`LLM_MAX_QUEUE=0`).
 * First, the pool cap: 10 000 requests at 4 × the pool's size may open at most
 * LLM_MAX_CONNECTIONS upstream connections.
 */
import { ServiceProcess, SimulatorProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { clientPool, openLoop } from '../load/undici-load';
import { cdfChart, type CdfSeries } from '../report/svg-charts';
import { fmt, ms, pct, ratio, summarize } from '../report/summary';
import { alternate, chatBody, measure, othersNote, mergeStatuses, perRound, processBusy, statusSummary, table, total, type BenchSettings, type ScenarioReport } from './scenario';

const MAX_CONNECTIONS = 16;
const UPSTREAM_TTFT_MS = 100;
/** What the pool can serve: every connection busy for one upstream response. */
const CAPACITY_PER_S = MAX_CONNECTIONS * (1000 / UPSTREAM_TTFT_MS);
const UNLOADED_SHARE = 0.25;
const OVERLOAD_FACTOR = 4;
const P99_TARGET = 1.2;
const CAP_CHECK_LATENCY_MS = 5;

const CONFIGS = {
  queue: { label: 'default queue (LLM_MAX_QUEUE=256, LLM_POOL_TIMEOUT_MS=5000)', short: 'queue 256', env: {} },
  shed: { label: 'shed at once (LLM_MAX_QUEUE=0)', short: 'queue 0', env: { LLM_MAX_QUEUE: '0' } },
} as const;
type ConfigKey = keyof typeof CONFIGS;

export async function overload(settings: BenchSettings, cores: number): Promise<ScenarioReport> {
  const simulator = await SimulatorProcess.start({ tls: false });
  const services = {} as Record<ConfigKey, ServiceProcess>;
  await Promise.all(
    (Object.keys(CONFIGS) as ConfigKey[]).map(async (key) => {
      services[key] = await ServiceProcess.start(`service-${key}`, {
        LLM_UPSTREAMS: `sim=${simulator.origin}/v1`,
        LLM_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        ...CONFIGS[key].env,
      });
    }),
  );
  const body = chatBody();

  // The pool cap, on a fresh service: count what the upstream accepted over the whole run.
  settings.log('  pool cap: 10 000 requests at c=64 into a pool of 16');
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: CAP_CHECK_LATENCY_MS });
  const capRequests = settings.quick ? 2_000 : 10_000;
  const cap = await measure(
    () => closedLoop({ url: `${services.queue.url}/v1/chat/completions`, body, headers: { authorization: services.queue.authorization }, connections: 4 * MAX_CONNECTIONS, amount: capRequests, maxDurationS: 90 }),
    { simulator, service: services.queue, pids: { bench: process.pid, service: services.queue.pid, simulator: simulator.pid } },
  );

  // The other service's JIT warm-up (the cap check warmed the first), at the same fast upstream.
  await closedLoop({ url: `${services.shed.url}/v1/chat/completions`, body, headers: { authorization: services.shed.authorization }, connections: MAX_CONNECTIONS, amount: settings.quick ? 500 : 5_000, maxDurationS: 60 });
  await simulator.configure({ ttftMs: UPSTREAM_TTFT_MS, tokensPerSecond: 0, latencyMs: 0 });
  const durationS = settings.quick ? 1.5 : 4;
  const clients = { queue: clientPool(services.queue.url, 512), shed: clientPool(services.shed.url, 512) };
  const run = (key: ConfigKey, ratePerS: number) => () =>
    measure(
      () => openLoop(clients[key], { origin: services[key].url, path: '/v1/chat/completions', headers: { authorization: services[key].authorization } }, body, { ratePerS, durationS, requestTimeoutMs: 30_000 }),
      { simulator, service: services[key], pids: { bench: process.pid, service: services[key].pid, simulator: simulator.pid } },
    );
  const unloadedRate = CAPACITY_PER_S * UNLOADED_SHARE;
  const overloadRate = CAPACITY_PER_S * OVERLOAD_FACTOR;
  // Warm both paths of both services, the admitted one and the 503 one (exception, filter, envelope).
  settings.log('  warm-up');
  for (const key of Object.keys(CONFIGS) as ConfigKey[]) {
    const target = { origin: services[key].url, path: '/v1/chat/completions', headers: { authorization: services[key].authorization } };
    await openLoop(clients[key], target, body, { ratePerS: overloadRate, durationS: settings.quick ? 0.5 : 1.5, requestTimeoutMs: 30_000 });
    await openLoop(clients[key], target, body, { ratePerS: unloadedRate, durationS: settings.quick ? 0.5 : 1, requestTimeoutMs: 30_000 });
  }
  const runs = await alternate(settings, {
    'queue unloaded': run('queue', unloadedRate),
    'queue 4x': run('queue', overloadRate),
    'shed unloaded': run('shed', unloadedRate),
    'shed 4x': run('shed', overloadRate),
  });
  await Promise.all([clients.queue.close(), clients.shed.close()]);
  await Promise.all(Object.values(services).map((s) => s.stop()));
  await simulator.stop();

  const rows: string[][] = [];
  const series: CdfSeries[] = [];
  const verdicts: { key: ConfigKey; p99Ratio: number; shed: number; unloadedP99: number; loadedP99: number }[] = [];
  for (const key of Object.keys(CONFIGS) as ConfigKey[]) {
    const unloaded = runs[`${key} unloaded`];
    const loaded = runs[`${key} 4x`];
    for (const [load, rs] of [
      ['¼ capacity', unloaded],
      ['4 × capacity', loaded],
    ] as const) {
      const sent = total(rs, (r) => r.load.latenciesMs.length + r.load.errorLatenciesMs.length + r.load.transportErrors);
      const admitted = summarize(rs.flatMap((r) => r.load.latenciesMs));
      const shed = summarize(rs.flatMap((r) => r.load.errorLatenciesMs));
      const statuses = mergeStatuses(rs);
      rows.push([
        `${CONFIGS[key].short}, ${load}`,
        fmt(total(rs, (r) => r.load.latenciesMs.length + r.load.errorLatenciesMs.length) / total(rs, (r) => r.load.wallMs) * 1000),
        pct((statuses['503'] ?? 0) / sent),
        shed.count ? `${ms(shed.p50)} / ${ms(shed.p99)}` : '–',
        ms(admitted.p50),
        ms(admitted.p99),
        perRound(rs.map((r) => summarize(r.load.latenciesMs).p99)),
        String(total(rs, (r) => r.pool?.poolExhausted ?? 0)),
        String(Math.max(...rs.map((r) => r.upstream.peakInFlight))),
        pct(processBusy(rs, 'service')),
        ms(summarize(rs.flatMap((r) => r.load.lagMs)).p99),
        statusSummary(statuses) + (total(rs, (r) => r.load.transportErrors) ? `, no answer: ${total(rs, (r) => r.load.transportErrors)}` : ''),
      ]);
      const colour = key === 'queue' ? 0 : 1;
      series.push({ label: `${CONFIGS[key].short}: ${load === '¼ capacity' ? '¼ cap.' : '4× admitted'}`, values: rs.flatMap((r) => r.load.latenciesMs), dashed: load === '¼ capacity', colour });
      if (load === '4 × capacity') series.push({ label: `${CONFIGS[key].short}: 4× 503s`, values: rs.flatMap((r) => r.load.errorLatenciesMs), colour: colour + 2 });
    }
    const u = summarize(unloaded.flatMap((r) => r.load.latenciesMs));
    const l = summarize(loaded.flatMap((r) => r.load.latenciesMs));
    const loadedSent = total(loaded, (r) => r.load.latenciesMs.length + r.load.errorLatenciesMs.length + r.load.transportErrors);
    verdicts.push({ key, p99Ratio: l.p99 / u.p99, shed: (mergeStatuses(loaded)['503'] ?? 0) / loadedSent, unloadedP99: u.p99, loadedP99: l.p99 });
  }

  const capConnections = cap.upstream.connections;
  const markdown = [
    `\`LLM_MAX_CONNECTIONS=${MAX_CONNECTIONS}\`, simulator answering after \`ttftMs: ${UPSTREAM_TTFT_MS}\` (non-streamed): capacity ${fmt(CAPACITY_PER_S)} requests/s. ` +
      `Open-loop arrivals (undici; latency from the moment each request is sent; the generator's own lateness against the schedule is the "generator lag" column) at ${fmt(unloadedRate)}/s ("¼ capacity", the unloaded reference) and ${fmt(overloadRate)}/s (4 × capacity), ` +
      `${durationS} s each, ${settings.rounds} rounds alternating over both configurations after a warm-up. Machine: ${cores} cores.`,
    '',
    table(['configuration, load', 'answers/s', 'shed (503)', '503 latency p50 / p99', 'admitted p50', 'admitted p99', 'admitted p99 by round', 'POOL_EXHAUSTED counted by the service', 'upstream peak in flight', 'service core busy', 'generator lag p99', 'statuses'], rows),
    '',
    table(
      ['configuration', 'admitted p99 at 4× ÷ unloaded p99', 'shed share at 4×'],
      verdicts.map((v) => [CONFIGS[v.key].label, ratio(v.p99Ratio), pct(v.shed)]),
    ),
    '',
    `**Pool cap.** ${capRequests.toLocaleString('en-US')} requests at c=${4 * MAX_CONNECTIONS} (closed loop, simulator \`latencyMs: ${CAP_CHECK_LATENCY_MS}\`) into the default-queue service, fresh: ` +
      `the upstream accepted **${capConnections}** connections (limit ${MAX_CONNECTIONS}), peak ${cap.upstream.peakInFlight} requests in flight upstream, ` +
      `${fmt(cap.load.okPerSecond)} req/s, statuses ${statusSummary(cap.load.statuses)}; the pool reports ${cap.pool?.created ?? '?'} sockets created, ` +
      `${pct((cap.pool?.reused ?? 0) / (cap.pool?.requests || 1))} of requests on a reused socket.`,
    '',
    othersNote([cap, ...Object.values(runs).flat()], cores),
  ].join('\n');

  const target = (v: (typeof verdicts)[number]) => ({
    target: `admitted p99 at 4 × load ≤ ${P99_TARGET} × unloaded — ${CONFIGS[v.key].label}`,
    measured: `${ratio(v.p99Ratio)} (${ms(v.loadedP99)} vs ${ms(v.unloadedP99)}; ${pct(v.shed)} shed)`,
    met: v.p99Ratio <= P99_TARGET,
  });
  return {
    title: '5. Overload at 4 × capacity',
    markdown,
    charts: [{ file: 's5-overload-cdf.svg', svg: cdfChart('Scenario 5: admitted latency unloaded (dashed) and at 4 × capacity; 503s', 'latency, ms (log scale)', series), caption: 'Latency CDF of admitted requests (¼ capacity dashed, 4 × capacity solid) and of the 503s' }],
    targets: [
      {
        target: `upstream connections ≤ LLM_MAX_CONNECTIONS over a ${capRequests.toLocaleString('en-US')}-request run`,
        measured: `${capConnections} connections, limit ${MAX_CONNECTIONS}`,
        met: capConnections <= MAX_CONNECTIONS && cap.load.latenciesMs.length === capRequests,
      },
      ...verdicts.map(target),
    ],
  };
}
