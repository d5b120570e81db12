import { DEFAULT_PRICES } from '../src/cost/price-table';
import { CLOSE_REASONS, ERROR_KINDS } from '../src/pool/pool-counters';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, postJson, runConcurrently, startService, type RunningService } from './support/service-harness';
import { freePort } from './support/spawn-service';

/** One sample line of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  /** Metric family name -> its # TYPE. */
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;

/**
 * A strict reader of the text exposition format 0.0.4: every line is a HELP, a TYPE
 * or a sample; a sample belongs to a family declared before it (histograms by their
 * _bucket/_sum/_count lines); names, labels and values are well formed; no series twice.
 */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      expect(name).toMatch(NAME);
      if (kind === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(rest);
        expect(types.has(name)).toBe(false);
        types.set(name, rest);
      } else help.set(name, rest);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', rawValue] = match;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const label = LABEL.exec(labelText);
      if (!label) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      expect(labels[label[1]]).toBeUndefined();
      labels[label[1]] = label[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    // Prometheus parses values as Go's ParseFloat does: NaN in any letter case (prom-client writes "Nan").
    if (Number.isNaN(value) && rawValue.toLowerCase() !== 'nan') throw new Error(`bad value in ${JSON.stringify(line)}`);
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family)) throw new Error(`sample before its # TYPE: ${line}`);
    if (family !== name) expect(types.get(family)).toMatch(/histogram|summary/);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    expect(seen.has(series)).toBe(false);
    seen.add(series);
    samples.push({ name, labels, value });
  }
  return { types, help, samples };
}

async function scrape(url: string): Promise<Exposition> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** The value of the one sample of `name` whose labels include `labels`. */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0].value;
}

function sumOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}


const CALLER_KEY = 'metrics-caller-key-0123456789';
const auth = { authorization: `Bearer ${CALLER_KEY}` };
const TTFT_MS = 40;

describe('GET /metrics (Prometheus, against the simulator)', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  const complete = (model: string, extra: Record<string, unknown> = {}) =>
    postJson(`${service.url}/v1/chat/completions`, chat('count the sockets', { model, ...extra }), { headers: auth });
  const stats = async () => (await (await fetch(`${service.url}/v1/llm/stats`, { headers: auth })).json()) as any;

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ ttftMs: TTFT_MS, tokensPerSecond: 0 });
    await simulator.start();
    service = await startService({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl},dead=http://127.0.0.1:${await freePort()}/v1`,
      // The dead upstream fails fast: one refused connection, no retry, and its circuit opens.
      LLM_DEAD_MAX_RETRIES: '0',
      LLM_DEAD_CIRCUIT_FAILURES: '1',
      LLM_MAX_CONNECTIONS: '4',
      SERVICE_API_KEYS: CALLER_KEY,
      SERVICE_RATE_LIMIT_PER_MINUTE: '0',
    });
  });
  afterAll(async () => {
    await service?.close();
    await simulator?.stop();
  });

  it('is public and unthrottled, in the Prometheus text format, with the Node.js process metrics', async () => {
    const limited = await startService({ SERVICE_API_KEYS: CALLER_KEY, SERVICE_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      // More scrapes than the per-caller rate limit allows, and no key: a scraper is neither a caller nor limited.
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${limited.url}/metrics`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
        await response.text();
      }
      expect((await fetch(`${limited.url}/v1/llm/stats`)).status).toBe(401);
    } finally {
      await limited.close();
    }

    const metrics = await scrape(service.url);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(metrics.types.has(name)).toBe(true);
    }
    // Every family of ours is described and named by the conventions: counters end in _total, durations in _seconds.
    const ours = [...metrics.types].filter(([name]) => name.startsWith('llm_'));
    expect(ours.length).toBeGreaterThanOrEqual(20);
    for (const [name, type] of ours) {
      expect(metrics.help.get(name)).toBeTruthy();
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
    }
  });

  it('reports what /v1/llm/stats and the simulator count, and observes latencies into histograms', async () => {
    await runConcurrently(30, 6, async (i) => {
      const response = await complete('sim/sim-1', i % 3 === 0 ? { stream: true } : {});
      expect(response.status).toBe(200);
    });
    const metrics = await scrape(service.url);
    const s = (await stats()).upstreams.find((u: any) => u.upstream === 'sim');
    const upstream = simulator.counters();
    const sim = { upstream: 'sim' };

    expect(valueOf(metrics, 'llm_pool_sockets_created_total', sim)).toBe(s.sockets.created);
    expect(valueOf(metrics, 'llm_pool_sockets_created_total', sim)).toBe(upstream.connections);
    expect(valueOf(metrics, 'llm_pool_sockets_created_total', sim)).toBeLessThanOrEqual(4);
    expect(valueOf(metrics, 'llm_pool_requests_total', sim)).toBe(s.requests.total);
    expect(valueOf(metrics, 'llm_pool_requests_total', sim)).toBe(upstream.requests);
    expect(valueOf(metrics, 'llm_pool_requests_reused_total', sim)).toBe(s.requests.reused);
    expect(valueOf(metrics, 'llm_upstream_requests_total', { ...sim, outcome: 'success' })).toBe(30);
    expect(valueOf(metrics, 'llm_upstream_requests_total', { ...sim, outcome: 'success' })).toBe(s.requests.succeeded);
    expect(sumOf(metrics, 'llm_pool_sockets_closed_total', sim)).toBe(s.sockets.closed);
    for (const [metric, value] of [
      ['llm_pool_sockets_open', s.sockets.open],
      ['llm_pool_sockets_idle', s.sockets.idle],
      ['llm_pool_sockets_active', s.sockets.active],
      ['llm_pool_requests_in_flight', 0],
      ['llm_pool_requests_queued', 0],
      ['llm_pool_max_connections', 4],
      ['llm_upstream_retries_total', s.requests.retries],
      ['llm_upstream_stale_socket_retries_total', s.requests.staleSocketRetries],
    ] as const) {
      expect({ metric, value: valueOf(metrics, metric, sim) }).toEqual({ metric, value });
    }
    expect(valueOf(metrics, 'llm_circuit_state', { ...sim, state: 'closed' })).toBe(1);
    expect(valueOf(metrics, 'llm_circuit_state', { ...sim, state: 'open' })).toBe(0);

    // Histograms: one observation per admitted request, per success, per streamed first chunk.
    expect(valueOf(metrics, 'llm_pool_acquire_wait_seconds_count', sim)).toBe(30);
    expect(valueOf(metrics, 'llm_upstream_request_duration_seconds_count', sim)).toBe(30);
    expect(valueOf(metrics, 'llm_upstream_request_duration_seconds_sum', sim)).toBeGreaterThanOrEqual((30 * TTFT_MS) / 1000);
    expect(valueOf(metrics, 'llm_upstream_time_to_first_token_seconds_count', sim)).toBe(10);
    // The simulator answers after TTFT_MS: no first chunk comes sooner.
    expect(valueOf(metrics, 'llm_upstream_time_to_first_token_seconds_bucket', { ...sim, le: '0.025' })).toBe(0);
    expect(valueOf(metrics, 'llm_upstream_time_to_first_token_seconds_sum', sim)).toBeGreaterThanOrEqual((10 * TTFT_MS) / 1000);
    for (const histogram of ['llm_pool_acquire_wait_seconds', 'llm_upstream_request_duration_seconds', 'llm_upstream_time_to_first_token_seconds']) {
      const buckets = metrics.samples.filter((x) => x.name === `${histogram}_bucket` && x.labels.upstream === 'sim');
      const bounds = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
      const counts = buckets.map((b) => b.value);
      expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
      expect(counts.at(-1)).toBe(valueOf(metrics, `${histogram}_count`, sim));
    }

    // Spend: the same dollars as the stats, under the price-table entry that priced them.
    const spend = (await stats()).spend;
    expect(spend.totalUsd).toBeGreaterThan(0);
    expect(valueOf(metrics, 'llm_budget_spend_usd_total', { ...sim, model: 'sim-' })).toBeCloseTo(spend.totalUsd, 6);
    const line = spend.byModel.find((l: any) => l.upstream === 'sim');
    expect(valueOf(metrics, 'llm_budget_tokens_total', { ...sim, type: 'prompt' })).toBe(line.promptTokens);
    expect(valueOf(metrics, 'llm_budget_tokens_total', { ...sim, type: 'completion' })).toBe(line.completionTokens);
  });

  it('counts failures by outcome, and shows the circuit opening', async () => {
    const response = await complete('dead/any-model');
    expect(response.status).toBe(502);
    expect((await complete('dead/any-model')).json.error.code).toBe('CIRCUIT_OPEN');

    const metrics = await scrape(service.url);
    const dead = { upstream: 'dead' };
    expect(valueOf(metrics, 'llm_upstream_requests_total', { ...dead, outcome: 'connect_refused' })).toBe(1);
    expect(valueOf(metrics, 'llm_upstream_requests_total', { ...dead, outcome: 'success' })).toBe(0);
    expect(valueOf(metrics, 'llm_upstream_calls_failed_total', dead)).toBe(2);
    expect(valueOf(metrics, 'llm_circuit_rejections_total', dead)).toBe(1);
    expect(valueOf(metrics, 'llm_circuit_transitions_total', { ...dead, to: 'open' })).toBe(1);
    expect(circuitOf(metrics, 'dead')).toEqual({ closed: 0, open: 1, half_open: 0 });
    const s = (await stats()).upstreams.find((u: any) => u.upstream === 'dead');
    expect(s.circuit.state).toBe('open');
    expect(s.errorsByKind.connect_refused).toBe(1);
  });

  it('keeps label sets bounded by configuration, whatever callers send', async () => {
    const before = await scrape(service.url);
    // Twenty model names nobody configured, some priced by a prefix (sim-), some by nothing.
    await runConcurrently(20, 4, async (i) => expect((await complete(i % 2 ? `sim/sim-custom-${i}` : `sim/made-up-${i}`)).status).toBe(200));
    const after = await scrape(service.url);

    const series = (e: Exposition) => e.samples.filter((s) => s.name.startsWith('llm_')).map((s) => `${s.name}${JSON.stringify(s.labels)}`);
    const added = series(after).filter((name) => !series(before).includes(name));
    // Only the "unpriced" spend line is new: the sim-custom-* models share the existing "sim-" one.
    expect(added.sort()).toEqual(['llm_budget_spend_usd_total{"upstream":"sim","model":"unpriced"}']);

    const allowed: Record<string, readonly string[] | ((value: string) => boolean)> = {
      upstream: ['sim', 'dead'],
      outcome: ['success', ...ERROR_KINDS],
      reason: [...CLOSE_REASONS, 'queue_full', 'wait_timeout'],
      state: ['closed', 'open', 'half_open'],
      to: ['closed', 'open', 'half_open'],
      type: ['prompt', 'completion'],
      model: [...Object.keys(DEFAULT_PRICES), 'unpriced'],
      le: (value) => value === '+Inf' || Number.isFinite(Number(value)),
    };
    for (const sample of after.samples.filter((s) => s.name.startsWith('llm_'))) {
      for (const [label, value] of Object.entries(sample.labels)) {
        const rule = allowed[label];
        expect({ metric: sample.name, label, known: rule !== undefined }).toEqual({ metric: sample.name, label, known: true });
        const ok = typeof rule === 'function' ? rule(value) : rule.includes(value);
        expect({ metric: sample.name, label, value, ok }).toEqual({ metric: sample.name, label, value, ok: true });
      }
    }
  });

  it('belongs to its app: a second app in the same process has its own registry and counts', async () => {
    const other = await startService({ LLM_SIMULATOR: 'off', LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl}` });
    try {
      expect((await postJson(`${other.url}/v1/chat/completions`, chat('hi', { model: 'sim/sim-1' }))).status).toBe(200);
      const mine = await scrape(service.url);
      const theirs = await scrape(other.url);
      expect(valueOf(theirs, 'llm_upstream_requests_total', { upstream: 'sim', outcome: 'success' })).toBe(1);
      expect(valueOf(mine, 'llm_upstream_requests_total', { upstream: 'sim', outcome: 'success' })).toBe(50);
      expect(theirs.samples.some((s) => s.labels.upstream === 'dead')).toBe(false);
    } finally {
      await other.close();
    }
  });
});

function circuitOf(metrics: Exposition, upstream: string): Record<string, number> {
  return Object.fromEntries(
    metrics.samples.filter((s) => s.name === 'llm_circuit_state' && s.labels.upstream === upstream).map((s) => [s.labels.state, s.value]),
  );
}
