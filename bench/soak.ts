/**
 * Soak test: `npm run soak` (not part of `npm test` or CI).
 *
 * Starts the upstream simulator and the service in this process on 127.0.0.1,
 * drives a steady mixed load (whole and streamed chat completions) for
 * SOAK_DURATION_S (default 600, never more), prints a line every 10 s, and ends
 * with a verdict: sockets flat and RSS flat, or exit code 1.
 *
 *   SOAK_DURATION_S      seconds of load, 20-600 (default 600)
 *   SOAK_CONCURRENCY     requests in flight, 1-256 (default 32)
 *   LLM_MAX_CONNECTIONS  the service's pool size (default 64)
 */
import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../src/app.factory';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';

const MAX_DURATION_S = 600;
const SAMPLE_EVERY_MS = 10_000;
/** Growth of RSS over the second half of the run that still counts as flat. */
const RSS_GROWTH_LIMIT = 0.1;
/** Open sockets may wobble with request timing; more than this over the midpoint is growth. */
const socketTolerance = (atMidpoint: number) => Math.max(2, Math.ceil(atMidpoint * 0.1));

interface Sample {
  elapsedS: number;
  requests: number;
  errors: number;
  open: number;
  active: number;
  idle: number;
  upstreamConnections: number;
  upstreamOpen: number;
  rssMb: number;
}

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  if (value > max) {
    console.log(`${name}=${value} is above the cap; using ${max}`);
    return max;
  }
  return value;
}

async function main(): Promise<number> {
  const durationS = intFromEnv('SOAK_DURATION_S', MAX_DURATION_S, 20, MAX_DURATION_S);
  const concurrency = intFromEnv('SOAK_CONCURRENCY', 32, 1, 256);
  const maxConnections = intFromEnv('LLM_MAX_CONNECTIONS', 64, 1, 10_000);

  // Fast tokens and a short first-token delay: the point is many requests over the same pool, not waiting.
  const simulator = new UpstreamSimulator({ host: '127.0.0.1', ttftMs: 5, tokensPerSecond: 5_000 });
  await simulator.start();
  const callerKey = randomBytes(24).toString('hex');
  const app = await startService({
    LLM_SIMULATOR: 'off',
    LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl}`,
    LLM_MAX_CONNECTIONS: String(maxConnections),
    // Auth on, so every request goes through the key check; no rate limit, or the load would be refused.
    SERVICE_API_KEYS: callerKey,
    SERVICE_RATE_LIMIT_PER_MINUTE: '0',
  });
  const { port } = app.getHttpServer().address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${callerKey}`, 'content-type': 'application/json' };

  // A hard stop, whatever happens below.
  const watchdog = setTimeout(() => {
    console.error('soak: did not finish in time, exiting');
    process.exit(1);
  }, (durationS + 60) * 1_000);
  watchdog.unref();

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  let requests = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const countError = (kind: string) => {
    errors++;
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };

  async function oneRequest(i: number): Promise<void> {
    const stream = i % 2 === 1;
    const body = {
      model: 'sim/sim-1',
      stream,
      max_tokens: 64,
      messages: [{ role: 'user', content: `Soak request ${i}.\n[doc-1] The pool keeps its sockets.\nWhat does the pool keep?` }],
    };
    try {
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status !== 200) countError(`http_${response.status}`);
      else if (stream && !text.includes('data: [DONE]')) countError('stream_incomplete');
      else requests++;
    } catch (error) {
      countError((error as Error).name || 'fetch_error');
    }
  }

  const samples: Sample[] = [];
  async function sample(): Promise<Sample> {
    const stats = (await (await fetch(`${base}/v1/llm/stats/sim`, { headers, signal: AbortSignal.timeout(5_000) })).json()) as {
      sockets: { open: number; active: number; idle: number };
    };
    const upstream = simulator.counters();
    return {
      elapsedS: Math.round((performance.now() - started) / 1_000),
      requests,
      errors,
      ...stats.sockets,
      upstreamConnections: upstream.connections,
      upstreamOpen: upstream.openConnections,
      rssMb: Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10,
    };
  }
  const print = (s: Sample, label = `${String(s.elapsedS).padStart(4)}s`) =>
    console.log(
      `[${label}] requests ${s.requests} errors ${s.errors} | pool sockets open ${s.open} active ${s.active} idle ${s.idle}` +
        ` | upstream connections ${s.upstreamConnections} (open ${s.upstreamOpen}) | rss ${s.rssMb} MB`,
    );

  console.log(
    `soak: ${durationS} s, concurrency ${concurrency}, LLM_MAX_CONNECTIONS ${maxConnections}, ` +
      `half streamed; service ${base}, simulator ${simulator.origin}`,
  );
  const started = performance.now();
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stop.signal.aborted) await oneRequest(next++);
  });
  // Every 10 s, and once more at the very end, while the load still runs; then the load stops.
  for (let dueMs = SAMPLE_EVERY_MS; !stop.signal.aborted; dueMs = Math.min(dueMs + SAMPLE_EVERY_MS, durationS * 1_000)) {
    await sleepUntil(started + dueMs, stop.signal);
    if (stop.signal.aborted) break;
    try {
      const s = await sample();
      samples.push(s);
      print(s);
    } catch (error) {
      console.error(`soak: sampling failed: ${(error as Error).message}`);
    }
    if (dueMs >= durationS * 1_000) stop.abort();
  }
  await Promise.all(workers);

  // After the load: what is left open once in-flight work ends.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const drained = await sample();
  print(drained, 'end ');
  await app.close();
  await simulator.stop();
  clearTimeout(watchdog);

  if (errorKinds.size > 0) console.log(`errors by kind: ${JSON.stringify(Object.fromEntries(errorKinds))}`);
  return verdict(samples, maxConnections);
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, at - performance.now()));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Flat sockets: the end within the pool limit and not above the midpoint; flat RSS: < 10 % growth over the last half. */
function verdict(samples: Sample[], maxConnections: number): number {
  if (samples.length < 2) {
    console.log('VERDICT: FAIL (fewer than two samples; run for at least 20 s)');
    return 1;
  }
  const last = samples[samples.length - 1];
  const midpoint = samples.reduce((best, s) => (Math.abs(s.elapsedS - last.elapsedS / 2) < Math.abs(best.elapsedS - last.elapsedS / 2) ? s : best));
  const tolerance = socketTolerance(midpoint.open);
  const socketsFlat = last.open <= maxConnections && last.upstreamOpen <= maxConnections && last.open <= midpoint.open + tolerance;
  const rssGrowth = (last.rssMb - midpoint.rssMb) / midpoint.rssMb;
  const rssFlat = rssGrowth < RSS_GROWTH_LIMIT;
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  console.log(
    `sockets: ${socketsFlat ? 'flat' : 'NOT FLAT'} (open ${midpoint.open} at ${midpoint.elapsedS}s -> ${last.open} at ${last.elapsedS}s, ` +
      `tolerance ${tolerance}; upstream open ${last.upstreamOpen}; limit ${maxConnections})`,
  );
  console.log(
    `rss: ${rssFlat ? 'flat' : 'NOT FLAT'} (${midpoint.rssMb} MB at ${midpoint.elapsedS}s -> ${last.rssMb} MB at ${last.elapsedS}s, ` +
      `${pct(rssGrowth)}; limit ${pct(RSS_GROWTH_LIMIT)})`,
  );
  const pass = socketsFlat && rssFlat;
  console.log(`VERDICT: ${pass ? 'PASS' : 'FAIL'}`);
  return pass ? 0 : 1;
}

/** The service as main.ts runs it, with exactly this environment (no .env), quiet, on an ephemeral loopback port. */
async function startService(env: Record<string, string>): Promise<NestFastifyApplication> {
  for (const key of Object.keys(process.env)) if (/^(LLM_|OPENAI_|ANTHROPIC_|SERVICE_|SEARCH_|PORT$|HOST$)/.test(key)) delete process.env[key];
  Object.assign(process.env, env);
  const app = await createApp({ ignoreEnvFile: true, logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('soak failed:', error);
    process.exit(1);
  },
);
