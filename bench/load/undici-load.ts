/**
 * The load shapes autocannon does not have, on undici (Node's own HTTP client
 * library): open-loop arrivals at a fixed rate, synchronized bursts, and streams
 * whose first byte is timed. Every run is bounded in count and in time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { LoadResult } from './closed-loop';

export interface Target {
  /** http://127.0.0.1:port */
  origin: string;
  path: string;
  headers?: Record<string, string>;
}

/** One pool of keep-alive connections per target, reused across the rounds of a scenario. */
export function clientPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
}

interface Outcome {
  status: number;
  latencyMs: number;
}

async function send(pool: Pool, target: Target, body: string, signal: AbortSignal): Promise<number> {
  const response = await pool.request({
    path: target.path,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body,
    signal,
  });
  await response.body.dump({ limit: 1 << 20 });
  return response.statusCode;
}

function collect(outcomes: Outcome[], transportErrors: number, wallMs: number): LoadResult {
  const latenciesMs: number[] = [];
  const errorLatenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  for (const { status, latencyMs } of outcomes) {
    statuses[status] = (statuses[status] ?? 0) + 1;
    (status >= 200 && status < 300 ? latenciesMs : errorLatenciesMs).push(latencyMs);
  }
  return { latenciesMs, errorLatenciesMs, statuses, transportErrors, wallMs, okPerSecond: (latenciesMs.length / wallMs) * 1000 };
}

export interface OpenLoopOptions {
  ratePerS: number;
  durationS: number;
  /** Every request is abandoned after this long (counted as a transport error). */
  requestTimeoutMs: number;
}

/**
 * Arrivals on a fixed schedule, whether or not earlier requests have answered
 * (what overload looks like from outside: nothing waits for the server, so there
 * is no coordinated omission). Latency runs from the moment a request is handed
 * to the client; how late the generator itself sent each one is reported apart
 * (`lagMs`), so that its own delays are neither charged to the server nor hidden.
 */
export async function openLoop(pool: Pool, target: Target, body: string, options: OpenLoopOptions): Promise<LoadResult & { lagMs: number[] }> {
  const total = Math.round(options.ratePerS * options.durationS);
  const intervalMs = 1000 / options.ratePerS;
  const outcomes: Outcome[] = [];
  const inFlight: Promise<void>[] = [];
  const lagMs: number[] = [];
  let transportErrors = 0;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const sentAt = performance.now();
    lagMs.push(sentAt - due);
    inFlight.push(
      send(pool, target, body, AbortSignal.timeout(options.requestTimeoutMs)).then(
        (status) => void outcomes.push({ status, latencyMs: performance.now() - sentAt }),
        () => void transportErrors++,
      ),
    );
  }
  await Promise.all(inFlight);
  return { ...collect(outcomes, transportErrors, performance.now() - started), lagMs };
}

export interface BurstOptions {
  bursts: number;
  size: number;
  /** Idle time between the end of one burst and the start of the next. */
  gapMs: number;
  requestTimeoutMs: number;
}

/** `size` requests at once, wait for all, pause, again: the load shape where keep-alive churn shows. */
export async function burstLoad(
  pool: Pool,
  target: Target,
  body: string,
  options: BurstOptions,
  onBurstEnd?: (index: number) => void,
): Promise<LoadResult> {
  const outcomes: Outcome[] = [];
  let transportErrors = 0;
  const started = performance.now();
  for (let b = 0; b < options.bursts; b++) {
    const burstStart = performance.now();
    await Promise.all(
      Array.from({ length: options.size }, () =>
        send(pool, target, body, AbortSignal.timeout(options.requestTimeoutMs)).then(
          (status) => void outcomes.push({ status, latencyMs: performance.now() - burstStart }),
          () => void transportErrors++,
        ),
      ),
    );
    onBurstEnd?.(b);
    if (b < options.bursts - 1) await sleep(options.gapMs);
  }
  return collect(outcomes, transportErrors, performance.now() - started);
}

export interface StreamTiming {
  /** Request sent -> response headers. */
  headersMs: number;
  /** Request sent -> first body byte (the first SSE event). */
  firstByteMs: number;
  /** Request sent -> last byte. */
  totalMs: number;
  complete: boolean;
}

/** One streamed request, timed: headers, first body byte, end; `complete` when it ended with `data: [DONE]`. */
export async function timedStream(pool: Pool, target: Target, body: string, signal: AbortSignal, onOpen?: () => void): Promise<StreamTiming> {
  const started = performance.now();
  const response = await pool.request({
    path: target.path,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers },
    body,
    signal,
  });
  const headersMs = performance.now() - started;
  onOpen?.();
  let firstByteMs = NaN;
  let tail = '';
  for await (const chunk of response.body) {
    if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started;
    tail = (tail + (chunk as Buffer).toString('utf8')).slice(-64);
  }
  return { headersMs, firstByteMs, totalMs: performance.now() - started, complete: response.statusCode === 200 && tail.includes('[DONE]') };
}

/** `concurrency` clients each streaming one request after another until `durationS` is over. */
export async function streamLoop(pool: Pool, target: Target, body: string, concurrency: number, durationS: number): Promise<{ timings: StreamTiming[]; failures: number }> {
  const timings: StreamTiming[] = [];
  let failures = 0;
  const endAt = performance.now() + durationS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < endAt) {
        try {
          const timing = await timedStream(pool, target, body, AbortSignal.timeout(30_000));
          if (timing.complete) timings.push(timing);
          else failures++;
        } catch {
          failures++;
        }
      }
    }),
  );
  return { timings, failures };
}
