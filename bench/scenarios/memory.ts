/**
 * Scenario 6: the service's resident memory with 1 000 streams open at once
 * (a slow upstream: 30 tokens at 2 tokens/s, so each stream stays open ~15 s).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuMeter, ServiceProcess, SimulatorProcess } from '../harness/processes';
import { clientPool, streamLoop, timedStream } from '../load/undici-load';
import { lineChart } from '../report/svg-charts';
import { fmt, ms, summarize } from '../report/summary';
import { chatBody, othersNote, table, type BenchSettings, type ScenarioReport } from './scenario';

const STREAMS = 1_000;
const TOKENS = 30;
const RSS_TARGET_MB = 300;
const SAMPLE_EVERY_MS = 250;
const CONTENT =
  '[a] The pool keeps every socket open between requests so that the next request to the upstream skips the connection handshake entirely.\n' +
  '[b] A pool that keeps its sockets open saves a round trip for the TCP handshake and two for the TLS handshake on every request it sends.\n' +
  'Why does the pool keep sockets open?';

export async function memoryAtOpenStreams(settings: BenchSettings): Promise<ScenarioReport> {
  // Quick: shorter streams, still all open at once (each lasts ~7.5 s, opened within 2 s).
  const tokensPerSecond = settings.quick ? 4 : 2;
  const rampMs = 2_000;
  const simulator = await SimulatorProcess.start({ tls: false });
  const service = await ServiceProcess.start('service-memory', {
    LLM_UPSTREAMS: `sim=${simulator.origin}/v1`,
    LLM_MAX_CONNECTIONS: String(STREAMS + 100),
  });
  const body = chatBody({ stream: true, maxTokens: TOKENS, content: CONTENT });
  const target = { origin: service.url, path: '/v1/chat/completions', headers: { authorization: service.authorization } };
  const client = clientPool(service.url, STREAMS);

  // Warm the service (JIT, code paths) with fast streams, let it settle, then take the baseline.
  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 0 });
  await streamLoop(client, target, body, 20, settings.quick ? 0.5 : 2);
  await sleep(1_000);
  const baselineMb = service.rssMb();

  await simulator.configure({ ttftMs: 0, tokensPerSecond, latencyMs: 0 });
  await simulator.reset();
  let open = 0;
  let peakOpen = 0;
  const samples: { tS: number; rssMb: number; open: number }[] = [];
  const started = performance.now();
  const meter = new CpuMeter({ bench: process.pid, service: service.pid, simulator: simulator.pid });
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ tS: (performance.now() - started) / 1000, rssMb: service.rssMb(), open });
      await sleep(SAMPLE_EVERY_MS);
    }
  })();
  settings.log(`  opening ${STREAMS} streams over ${rampMs / 1000} s (${TOKENS} tokens at ${tokensPerSecond}/s each)`);
  const streams = Array.from({ length: STREAMS }, async (_, i) => {
    await sleep((i * rampMs) / STREAMS);
    let opened = false;
    try {
      const timing = await timedStream(client, target, body, AbortSignal.timeout(120_000), () => {
        opened = true;
        peakOpen = Math.max(peakOpen, ++open);
      });
      return timing;
    } catch {
      return undefined;
    } finally {
      if (opened) open--;
    }
  });
  const timings = await Promise.all(streams);
  sampling = false;
  await sampler;
  const { wallMs, cpuMs, othersCpuMs } = meter.stop();
  const upstream = await simulator.counters();
  await sleep(1_000);
  const afterMb = service.rssMb();
  await client.close();
  await service.stop();
  await simulator.stop();

  const complete = timings.filter((t) => t?.complete).length;
  const atFull = samples.filter((s) => s.open >= STREAMS);
  const peakMb = Math.max(...samples.map((s) => s.rssMb));
  const peakAtFullMb = atFull.length ? Math.max(...atFull.map((s) => s.rssMb)) : NaN;
  const allOpen = atFull.length > 0;
  const duration = summarize(timings.flatMap((t) => (t ? [t.totalMs] : [])));
  const markdown = [
    `Service with \`LLM_MAX_CONNECTIONS=${STREAMS + 100}\`; simulator streaming ${TOKENS} tokens at ${tokensPerSecond} tokens/s (each stream open ~${fmt(TOKENS / tokensPerSecond)} s). ` +
      `${STREAMS} streams opened over ${rampMs / 1000} s by undici (one connection each), RSS of the service process read from /proc every ${SAMPLE_EVERY_MS} ms.`,
    '',
    table(
      ['measure', 'value'],
      [
        ['RSS before (warmed up, idle)', `${fmt(baselineMb)} MB`],
        [`RSS peak while all ${STREAMS} streams were open`, `${fmt(peakAtFullMb)} MB`],
        ['RSS peak over the run', `${fmt(peakMb)} MB`],
        ['RSS per open stream (peak − before) ÷ most streams open at once', `${fmt(((peakMb - baselineMb) * 1024) / Math.max(1, peakOpen))} KB`],
        ['RSS 1 s after the last stream ended', `${fmt(afterMb)} MB`],
        ['streams open at once (client) / upstream peak in flight (simulator)', `${peakOpen} / ${upstream.peakInFlight}`],
        ['streams complete (ended with [DONE])', `${complete} of ${STREAMS}`],
        ['stream duration p50 / p99', `${ms(duration.p50)} / ${ms(duration.p99)}`],
        ['service CPU while the streams ran', `${fmt(cpuMs.service / 1000)} s in ${fmt(wallMs / 1000)} s`],
      ],
    ),
    '',
    othersNote([{ othersCpuMs, wallMs }], settings.cores),
  ].join('\n');

  return {
    title: '6. Memory with 1 000 open streams',
    markdown,
    charts: [
      {
        file: 's6-memory-rss.svg',
        svg: lineChart(`Scenario 6: service RSS with ${STREAMS} slow streams`, 'seconds', 'MB  /  streams ÷ 4', [
          { label: 'service RSS, MB', points: samples.map((s) => [s.tS, s.rssMb] as const) },
          { label: 'open streams ÷ 4', points: samples.map((s) => [s.tS, s.open / 4] as const), dashed: true, steps: true },
        ]),
        caption: 'Service RSS and open streams over time',
      },
    ],
    targets: [
      {
        target: `RSS at ${STREAMS.toLocaleString('en-US')} open streams ≤ ${RSS_TARGET_MB} MB`,
        measured: allOpen
          ? `${fmt(peakAtFullMb)} MB peak with all ${STREAMS} open (${fmt(baselineMb)} MB idle; ${complete}/${STREAMS} complete)`
          : `never ${STREAMS} open at once (at most ${peakOpen}); ${fmt(peakMb)} MB peak`,
        met: allOpen ? peakAtFullMb <= RSS_TARGET_MB && complete === STREAMS : undefined,
      },
    ],
  };
}
