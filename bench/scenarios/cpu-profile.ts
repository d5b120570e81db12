/**
 * Where the service's CPU goes, per layer of the stack: a separate service process (profiling slows what it
 * measures, so never the one the other scenarios time) runs under `node --cpu-prof` through the loads of
 * scenario 3 (non-streamed, c=32, 5 ms upstream) and scenario 4 (streamed, c=16, 20 ms TTFT); the samples
 * taken while each load ran are bucketed by package (bench/report/cpu-profile.ts).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess, type SimulatorProcess } from '../harness/processes';
import { closedLoop } from '../load/closed-loop';
import { clientPool, streamLoop } from '../load/undici-load';
import { summarizeProfile, type ProfileSummary } from '../report/cpu-profile';
import { fmt, pct } from '../report/summary';
import { chatBody, table, type BenchSettings, type ScenarioReport } from './scenario';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export async function serviceCpuProfile(settings: BenchSettings, simulator: SimulatorProcess): Promise<ScenarioReport> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-bench-profile-'));
  const service = await ServiceProcess.start('profiled service', { LLM_UPSTREAMS: `sim=${simulator.origin}/v1`, LLM_MAX_CONNECTIONS: '256' }, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-interval=250',
  ]);
  const durationS = settings.quick ? 2 : 8;
  const headers = { authorization: service.authorization };

  await simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 5 });
  const whole = { url: `${service.url}/v1/chat/completions`, body: chatBody(), headers, connections: 32 };
  settings.log('  profile: non-streamed, c=32');
  await closedLoop({ ...whole, durationS: settings.quick ? 1 : 3 });
  const wholeFrom = nowUs();
  const wholeLoad = await closedLoop({ ...whole, durationS });
  const wholeTo = nowUs();

  await simulator.configure({ ttftMs: 20, tokensPerSecond: 0, latencyMs: 0 });
  const pool = clientPool(service.url, 32);
  const target = { origin: service.url, path: '/v1/chat/completions', headers };
  const streamed = chatBody({ stream: true, maxTokens: 16 });
  settings.log('  profile: streamed, c=16');
  await streamLoop(pool, target, streamed, 16, settings.quick ? 1 : 2);
  const streamFrom = nowUs();
  const streams = await streamLoop(pool, target, streamed, 16, durationS);
  const streamTo = nowUs();
  await pool.close();
  await service.stop();

  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) return { title: '3b. CPU profile of the service', markdown: `No profile was written (the service did not exit cleanly):\n\n\`\`\`\n${service.log.slice(-1_000)}\n\`\`\``, charts: [], targets: [] };
  const wholeProfile = summarizeProfile(join(dir, file), wholeFrom, wholeTo);
  const streamProfile = summarizeProfile(join(dir, file), streamFrom, streamTo);
  // BENCH_PROFILE_KEEP=<file>: keep the raw profile (open it in Chrome DevTools' Performance panel).
  if (process.env.BENCH_PROFILE_KEEP) copyFileSync(join(dir, file), process.env.BENCH_PROFILE_KEEP);
  rmSync(dir, { recursive: true, force: true });
  const requests = wholeLoad.latenciesMs.length + wholeLoad.errorLatenciesMs.length;
  const streamCount = streams.timings.length;

  const perUnit = (summary: ProfileSummary, count: number) => (ms: number) => fmt((ms * 1000) / Math.max(1, count));
  const bucketRows = (summary: ProfileSummary, count: number) =>
    summary.buckets.filter((b) => b.share >= 0.005).map((b) => [b.bucket, pct(b.share), perUnit(summary, count)(b.ms)]);
  const markdown = [
    `A separate service process under \`node --cpu-prof\` (250 µs sampling), loaded as scenario 3 (non-streamed, c=32, 5 ms upstream, ${durationS} s: ${fmt(requests)} requests) ` +
      `and scenario 4 (streamed, c=16, 20 ms TTFT, ${durationS} s: ${fmt(streamCount)} streams); only the samples taken while each load ran count. ` +
      'Self time of the main thread (GC on helper threads and the profiler\'s own cost are not in it, so the total is below the CPU per request of scenario 3), bucketed by the package the code belongs to. ' +
      'Buckets under 0.5 % are left out.',
    '',
    `**Non-streamed, c=32** — ${fmt((wholeProfile.busyMs * 1000) / Math.max(1, requests))} µs sampled per request`,
    '',
    table(['bucket', 'share', 'µs per request'], bucketRows(wholeProfile, requests)),
    '',
    `**Streamed, c=16** — ${fmt((streamProfile.busyMs * 1000) / Math.max(1, streamCount))} µs sampled per stream`,
    '',
    table(['bucket', 'share', 'µs per stream'], bucketRows(streamProfile, streamCount)),
    '',
    '<details><summary>Top functions by self time, non-streamed</summary>',
    '',
    table(['function', 'bucket', 'share'], wholeProfile.functions.map((f) => [`\`${f.name}\``, f.bucket, pct(f.share)])),
    '',
    '</details>',
    '',
    '<details><summary>Top functions by self time, streamed</summary>',
    '',
    table(['function', 'bucket', 'share'], streamProfile.functions.map((f) => [`\`${f.name}\``, f.bucket, pct(f.share)])),
    '',
    '</details>',
  ].join('\n');
  return { title: '3b. CPU profile of the service, by package', markdown, charts: [], targets: [] };
}
