import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DrainService } from '../src/lifecycle/drain.service';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { PoolStatsService } from '../src/stats/pool-stats.service';
import { chat, eventually, postJson, runConcurrently, sleep, startService, type RunningService } from './support/service-harness';
import { freePort } from './support/spawn-service';

const CALLER_KEY = 'dashboard-caller-key-0123456789';
// The README's picture is refreshed only when asked (DASHBOARD_SCREENSHOT=1): a test run leaves the tree as it was.
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT === '1' ? join(__dirname, '..', 'bench', 'results', 'dashboard.png') : join(tmpdir(), `llm-dashboard-${process.pid}.png`);

/** Reads a server-sent event stream one event at a time. */
function eventStream(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    /** The next event's data, or undefined once the stream has ended. */
    async next(): Promise<{ data: any; at: number } | undefined> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const lines = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6));
          if (data.length > 0) return { data: JSON.parse(data.join('\n')), at: performance.now() };
          continue;
        }
        const { done, value } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

async function openStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  return { response, controller };
}

describe('GET /v1/llm/stats/stream (server-sent events)', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('sends the JSON of /v1/llm/stats at once, then every intervalMs, and stops its timer when the client leaves', async () => {
    service = await startService({});
    const stats = service.app.get(PoolStatsService);
    const current = jest.spyOn(stats, 'current');
    const { response, controller } = await openStream(`${service.url}/v1/llm/stats/stream?intervalMs=250`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('cache-control')).toContain('no-cache');
    const events = eventStream(response);

    const first = await events.next();
    const plain = (await (await fetch(`${service.url}/v1/llm/stats`)).json()) as any;
    expect(Object.keys(first!.data).sort()).toEqual(Object.keys(plain).sort());
    expect(first!.data.upstreams.map((u: any) => u.upstream)).toEqual(plain.upstreams.map((u: any) => u.upstream));
    expect(Object.keys(first!.data.upstreams[0]).sort()).toEqual(Object.keys(plain.upstreams[0]).sort());
    expect(first!.data.spend).toEqual(plain.spend);

    const second = await events.next();
    const third = await events.next();
    const gap = third!.at - second!.at;
    expect(gap).toBeGreaterThan(150);
    expect(gap).toBeLessThan(1_000);
    expect(stats.openStreams).toBe(1);

    controller.abort();
    await eventually(() => expect(stats.openStreams).toBe(0));
    const calls = current.mock.calls.length;
    await sleep(700);
    expect(current.mock.calls.length).toBe(calls);
  });

  it('answers 400 for an interval outside 250..10000 ms', async () => {
    service = await startService({});
    for (const interval of ['100', '10001', 'soon']) {
      const response = await fetch(`${service.url}/v1/llm/stats/stream?intervalMs=${interval}`);
      expect(response.status).toBe(400);
      const body = (await response.json()) as any;
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.details.fields[0].field).toBe('intervalMs');
    }
    expect(service.app.get(PoolStatsService).openStreams).toBe(0);
  });

  it('with SERVICE_API_KEYS, takes the key as ?access_token= on this route only (EventSource cannot send headers)', async () => {
    service = await startService({ SERVICE_API_KEYS: CALLER_KEY });
    const stream = `${service.url}/v1/llm/stats/stream`;
    expect((await fetch(stream)).status).toBe(401);
    expect((await fetch(`${stream}?access_token=not-a-key-0123456789`)).status).toBe(401);
    // The parameter does not open any other route.
    expect((await fetch(`${service.url}/v1/llm/stats?access_token=${CALLER_KEY}`)).status).toBe(401);

    for (const [url, headers] of [
      [`${stream}?access_token=${CALLER_KEY}`, {}],
      [stream, { authorization: `Bearer ${CALLER_KEY}` }],
      // The header wins over the parameter.
      [`${stream}?access_token=not-a-key-0123456789`, { authorization: `Bearer ${CALLER_KEY}` }],
    ] as const) {
      const { response, controller } = await openStream(url, headers);
      expect({ url, status: response.status }).toEqual({ url, status: 200 });
      expect((await eventStream(response).next())!.data.upstreams.length).toBeGreaterThan(0);
      controller.abort();
    }
    await eventually(() => expect(service!.app.get(PoolStatsService).openStreams).toBe(0));
  });

  it('ends at the first tick once shutdown begins, so an open dashboard does not hold the drain', async () => {
    service = await startService({});
    const { response } = await openStream(`${service.url}/v1/llm/stats/stream?intervalMs=250`);
    const events = eventStream(response);
    expect(await events.next()).toBeDefined();
    void service.app.get(DrainService).drain(5_000);
    const started = performance.now();
    // Whatever was already on its way, then the end of the stream.
    while ((await events.next()) !== undefined);
    expect(performance.now() - started).toBeLessThan(1_000);
    await eventually(() => expect(service!.app.get(PoolStatsService).openStreams).toBe(0));
  });
});

const CHROMIUM = '/usr/bin/chromium';
const chromiumMissing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (install the Debian package: apt-get install -y chromium; .ci/run does when run as root)`;
if (chromiumMissing) process.stdout.write(`dashboard.e2e-spec: the headless-browser tests are skipped: ${chromiumMissing}\n`);
const describeInChromium = chromiumMissing ? describe.skip : describe;


describeInChromium('GET /dashboard in headless Chromium', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const requested: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ ttftMs: 120, tokensPerSecond: 40 });
    await simulator.start();
    service = await startService({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `openai-sim=${simulator.openAiBaseUrl},claude-sim=${simulator.anthropicBaseUrl},vllm-down=http://127.0.0.1:${await freePort()}/v1`,
      LLM_CLAUDE_SIM_WIRE: 'anthropic',
      LLM_VLLM_DOWN_MAX_RETRIES: '0',
      LLM_VLLM_DOWN_CIRCUIT_FAILURES: '2',
      LLM_MAX_CONNECTIONS: '8',
      LLM_BUDGET_LIMIT_USD: '5',
      SERVICE_API_KEYS: CALLER_KEY,
      SERVICE_RATE_LIMIT_PER_MINUTE: '0',
    });
    profile = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
    // A persistent context is how Playwright takes a --user-data-dir: a fresh, empty one per run.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 680 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A refused key is a 401 the page handles; a CSP violation or a script error is a defect.
      if (message.type() === 'error' && !/Failed to load resource.*401/.test(message.text())) problems.push(`console: ${message.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await service?.close();
    await simulator?.stop();
  });

  const text = (selector: string) => page.locator(selector).first().innerText();
  const count = async (selector: string) => Number((await text(selector)).replace(/[^0-9.]/g, ''));
  /** Waits until the number the page shows at `selector` (thousands separators allowed) is at least `min`. */
  const waitForAtLeast = (selector: string, min: number, timeout = 10_000) =>
    page.waitForFunction(
      ([selector, min]) => Number(((globalThis as any).document.querySelector(selector)?.textContent ?? '').replace(/,/g, '')) >= min,
      [selector, min] as const,
      { timeout },
    );

  it('asks for a key, then shows every upstream live, and its numbers follow the load', async () => {
    const response = await page.goto(`${service.url}/dashboard`);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['content-security-policy']).toContain("connect-src 'self'");
    await page.locator('#status', { hasText: 'unauthorized' }).waitFor();
    expect(await text('#message')).toContain('needs an API key');

    await page.fill('#key', CALLER_KEY);
    await page.selectOption('#interval', '500');
    await page.click('button[type=submit]');
    await page.locator('#status', { hasText: 'live' }).waitFor();
    for (const upstream of ['openai-sim', 'claude-sim', 'vllm-down']) await page.locator(`[data-upstream="${upstream}"]`).waitFor();
    expect(await count('[data-total="requests"]')).toBe(0);
    expect(await text('[data-upstream="openai-sim"] [data-field="circuit"]')).toBe('circuit closed');

    // Load through the service: streams on both wires, more at once than the pools' 8 connections.
    const complete = (model: string, stream: boolean) =>
      postJson(`${service.url}/v1/chat/completions`, chat('what does the dashboard show about pooled connections', { model, stream }), {
        headers: { authorization: `Bearer ${CALLER_KEY}` },
      });
    let loading = true;
    const load = runConcurrently(320, 20, async (i) => {
      const response = await complete(i % 2 ? 'openai-sim/sim-1' : 'claude-sim/sim-1', i % 4 !== 1);
      expect(response.status).toBe(200);
    }).finally(() => (loading = false));
    for (let i = 0; i < 3; i++) expect((await complete('vllm-down/llama-3', false)).status).toBeGreaterThanOrEqual(502);

    // While it runs, the page shows sockets in use and requests coming in.
    await waitForAtLeast('[data-total="inFlight"]', 1);
    await waitForAtLeast('[data-upstream="openai-sim"] [data-field="sockets.active"]', 1);
    await page.locator('[data-upstream="vllm-down"] [data-field="circuit"]', { hasText: 'circuit open' }).waitFor();
    await waitForAtLeast('[data-total="requests"]', 200, 20_000);
    expect(loading).toBe(true);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await load;

    // Once it is over, the page settles on the service's own counts.
    const stats = (await (await fetch(`${service.url}/v1/llm/stats`, { headers: { authorization: `Bearer ${CALLER_KEY}` } })).json()) as any;
    await eventually(async () => {
      expect(await count('[data-total="requests"]')).toBe(stats.totals.requests);
      expect(await count('[data-upstream="openai-sim"] [data-field="requests"]')).toBe(stats.upstreams.find((u: any) => u.upstream === 'openai-sim').requests.total);
      expect(await text('[data-total="inFlight"]')).toBe('0');
    }, 5_000);
    expect(stats.totals.requests).toBeGreaterThanOrEqual(320);
    expect(await text('[data-upstream="openai-sim"] [data-field="reuseRate"]')).toMatch(/^\d+\.\d %$/);
    expect(await text('[data-upstream="openai-sim"] [data-field="latency.upstream.p50"]')).toMatch(/ms$/);
    expect(await text('[data-total="spend"]')).toMatch(/^\$0\.\d{4}$/);
    expect(await text('[data-total="spend"]')).not.toBe('$0.0000');

    // Everything it loaded came from the service itself (no CDN), and the stream carried the key as ?access_token=.
    expect(requested.filter((url) => !url.startsWith(service.url) && !url.startsWith('data:'))).toEqual([]);
    expect(requested.some((url) => url.startsWith(`${service.url}/v1/llm/stats/stream?intervalMs=500&access_token=`))).toBe(true);
    expect(problems).toEqual([]);
  }, 60_000);

  it('lets go of the stream when the page goes away', async () => {
    const stats = service.app.get(PoolStatsService);
    expect(stats.openStreams).toBe(1);
    await page.goto('about:blank');
    await eventually(() => expect(stats.openStreams).toBe(0));
  });
});
