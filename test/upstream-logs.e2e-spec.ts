import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { loggedJsonLines, loggedText, startWithSimulatorAndLogs } from './support/log-capture';
import { chat, eventually, postJson, readSse, sleep } from './support/service-harness';

const PROVIDER_KEY = 'sk-proj-UpstreamLogsProviderKey0123456789abcdef';
const CIRCUIT_OPEN_MS = 300;

describe('upstream 5xx, stream errors and circuit transitions: one warn line each, with its reason and ids', () => {
  let simulator: UpstreamSimulator;
  let stop: (() => Promise<void>) | undefined;
  let url: string;
  let output: string[];

  const lines = () => loggedJsonLines(output);
  const events = (event: string) => lines().filter((line) => line.event === event);

  beforeAll(async () => {
    const running = await startWithSimulatorAndLogs(
      { apiKeys: [PROVIDER_KEY] },
      {
        LLM_SIM_API_KEY: PROVIDER_KEY,
        LLM_MODEL: 'sim-1',
        LLM_MAX_RETRIES: '1',
        LLM_CIRCUIT_FAILURES: '2',
        LLM_CIRCUIT_OPEN_MS: String(CIRCUIT_OPEN_MS),
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
        SERVICE_KEEPALIVE_TIMEOUT_MS: '2000',
      },
    );
    ({ simulator, stop } = running);
    ({ url, logs: output } = running.service);
  });

  afterAll(() => stop?.());

  it('logs an upstream 5xx once, with the upstream, status, its message, both ids and whether it is retried', async () => {
    simulator.setFaults({ status: 503, retryAfterMs: 10, count: 1, errorMessage: `overloaded, key {key}` });
    const answer = await postJson(`${url}/v1/chat/completions`, chat('hello'), { headers: { 'x-request-id': 'logs-5xx' } });
    simulator.setFaults(null);
    expect(answer.status).toBe(200);
    const logged = events('upstream_5xx').filter((line) => line.request_id === 'logs-5xx');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'warn', context: 'UpstreamClient', upstream: 'sim', status: 503, retrying: true });
    expect(logged[0].reason).toMatch(/answered 503: overloaded/);
    expect(logged[0].upstream_request_id).toBe(simulator.received.find((r) => r.requestId === 'logs-5xx')!.upstreamRequestId);
    // The retried call succeeded, and the one failure did not open the circuit (threshold 2).
    expect(events('circuit_transition')).toEqual([]);
    expect(loggedText(output)).not.toContain(PROVIDER_KEY);
  });

  it('logs a stream that fails midway once, with its error code and reason', async () => {
    simulator.setFaults({ streamErrorAfterTokens: 2, count: 1, errorMessage: 'the model crashed' });
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'logs-stream' },
      body: JSON.stringify(chat('a story', { stream: true })),
    });
    const sse = await readSse(response);
    simulator.setFaults(null);
    expect(sse.some((event) => event.event === 'error')).toBe(true);
    await eventually(() => expect(events('stream_error').filter((line) => line.request_id === 'logs-stream')).toHaveLength(1));
    const [line] = events('stream_error').filter((line) => line.request_id === 'logs-stream');
    expect(line).toMatchObject({ level: 'warn', context: 'Sse', upstream: 'sim' });
    expect(line.code).toEqual(expect.any(String));
    expect(line.reason).toMatch(/the model crashed/);
  });

  it('logs each circuit transition once: opened with the failures behind it, half-open after the open period, closed by the probe', async () => {
    // Both attempts of one call fail: two consecutive failures open the circuit.
    simulator.setFaults({ status: 500, count: 2 });
    const failed = await postJson(`${url}/v1/chat/completions`, chat('fails'), { headers: { 'x-request-id': 'logs-open' } });
    expect(failed.json.error.code).toBe('UPSTREAM_ERROR');
    expect(events('upstream_5xx').filter((line) => line.request_id === 'logs-open').map((line) => line.retrying)).toEqual([true, false]);
    const fastFail = await postJson(`${url}/v1/chat/completions`, chat('fails fast'), { headers: { 'x-request-id': 'logs-fast' } });
    expect(fastFail.json.error.code).toBe('CIRCUIT_OPEN');

    await sleep(CIRCUIT_OPEN_MS + 50);
    const probe = await postJson(`${url}/v1/chat/completions`, chat('probe'), { headers: { 'x-request-id': 'logs-probe' } });
    expect(probe.status).toBe(200);

    const transitions = events('circuit_transition').map(({ upstream, from, to, request_id, context, level }) => ({ upstream, from, to, request_id, context, level }));
    expect(transitions).toEqual([
      { upstream: 'sim', from: 'closed', to: 'open', request_id: 'logs-open', context: 'Circuit', level: 'warn' },
      { upstream: 'sim', from: 'open', to: 'half_open', request_id: 'logs-probe', context: 'Circuit', level: 'warn' },
      { upstream: 'sim', from: 'half_open', to: 'closed', request_id: 'logs-probe', context: 'Circuit', level: 'warn' },
    ]);
    expect(events('circuit_transition')[0].reason).toBe('2 consecutive failures, the last: HTTP 500');
  });
});
