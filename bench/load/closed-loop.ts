/**
 * Closed-loop load with autocannon: `connections` clients, each sending its next
 * request when the previous one answered, for a fixed time or a fixed count.
 * Every response's latency is kept (autocannon's own histogram has no p95 and
 * no CDF), with the status it came with.
 */
import autocannon from 'autocannon';

export interface ClosedLoopOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  connections: number;
  /** Seconds of load; ignored when `amount` is set. */
  durationS?: number;
  /** Requests to send in all; the run also stops after `maxDurationS`. */
  amount?: number;
  /** Hard stop in seconds, whatever else is set. Default 120. */
  maxDurationS?: number;
}

export interface LoadResult {
  /** Latencies of 2xx responses, ms. */
  latenciesMs: number[];
  /** Latencies of non-2xx responses, ms. */
  errorLatenciesMs: number[];
  statuses: Record<string, number>;
  /** Connection errors and timeouts (no HTTP status). */
  transportErrors: number;
  wallMs: number;
  /** 2xx responses per second of wall time. */
  okPerSecond: number;
}

export async function closedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const errorLatenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const started = performance.now();
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    const settings: autocannon.Options = {
      url: options.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: options.body,
      connections: options.connections,
      pipelining: 1,
      ...(options.amount ? { amount: options.amount } : { duration: options.durationS ?? 5 }),
      timeout: 30,
    };
    instance = autocannon(settings, (error: unknown, result: autocannon.Result) => (error ? reject(error) : resolve(result)));
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    (statusCode >= 200 && statusCode < 300 ? latenciesMs : errorLatenciesMs).push(responseTime);
  });
  // Bounded in time whatever happens (an amount that can never be reached, a stuck server).
  const guard = setTimeout(() => instance.stop(), (options.maxDurationS ?? 120) * 1000);
  const result = await done;
  clearTimeout(guard);
  const wallMs = performance.now() - started;
  return {
    latenciesMs,
    errorLatenciesMs,
    statuses,
    transportErrors: result.errors + result.timeouts,
    wallMs,
    okPerSecond: (latenciesMs.length / wallMs) * 1000,
  };
}
