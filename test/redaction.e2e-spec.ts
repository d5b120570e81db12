import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { startServiceWithLogs, type LoggedService } from './support/log-capture';
import { postJson, postStream, readSse, chat } from './support/service-harness';

// One key per kind of upstream: the default `openai` (an sk- key), a named OpenAI-compatible one
// (a key of no known shape, which only the configured-key matcher can find) and an Anthropic one.
const OPENAI_KEY = 'sk-proj-Q7vX2mN9pL4kR8tY1wZ6cB3dF5gH0jS';
const VLLM_KEY = 'vllm-local-token-4c1e9a7f2b8d6e03';
const CLAUDE_KEY = 'sk-ant-api03-Zr8Kq2Wm5Tn7Vb1Xc4Yd9Lf6Hg3Js0Pa';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (text: string) => Buffer.from(text).toString('base64url');

/** Every way an upstream has been seen to give a key back: as sent, shouted, base64 (alone, in auth headers), cut short. */
function echoes(key: string): string {
  return [
    `Incorrect API key provided: {key}.`,
    `upper ${key.toUpperCase()}`,
    `b64 ${b64(key)} b64url ${b64url(key)}`,
    `bearer ${b64(`Bearer ${key}`)} basic ${b64(`user:${key}`)}`,
    `truncated ${key.slice(0, 14)}****${key.slice(-3)} longer ${key.slice(0, 20)}…`,
  ].join(' | ');
}

/** What must never appear: each form above, and a 14-character piece of the key or of its base64 (3 alignments). */
function leaks(key: string): string[] {
  const forms = [key, key.toUpperCase(), key.slice(0, 14), key.slice(0, 14).toUpperCase(), key.slice(-16)];
  for (const pad of ['', 'x', 'xy']) {
    const encoded = b64(pad + key).slice(pad ? 4 : 0, pad ? 20 : 16);
    forms.push(encoded, encoded.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

describe('provider keys echoed by an upstream never reach a caller or a log', () => {
  let simulator: UpstreamSimulator;
  let service: LoggedService;
  const seen: string[] = [];

  beforeAll(async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
    service = await startServiceWithLogs({
      // The text format, whose escaping these tests read (JSON lines are covered by log-safe.spec and access-log.e2e).
      LOG_FORMAT: 'pretty',
      LLM_SIMULATOR: 'off',
      OPENAI_BASE_URL: simulator.openAiBaseUrl,
      OPENAI_API_KEY: OPENAI_KEY,
      LLM_UPSTREAMS: `vllm=${simulator.openAiBaseUrl},claude=${simulator.anthropicBaseUrl}`,
      LLM_VLLM_API_KEY: VLLM_KEY,
      LLM_CLAUDE_API_KEY: CLAUDE_KEY,
      LLM_CLAUDE_WIRE: 'anthropic',
      LLM_PROVIDER: 'openai',
      // An error must reach the caller as the upstream sent it, not be retried away or open a circuit.
      LLM_MAX_RETRIES: '0',
      LLM_CIRCUIT_FAILURES: '1000',
      SEARCH_EMBEDDING_MODEL: 'vllm/sim-embed-1',
      SEARCH_SAMPLE_CORPUS: 'false',
      SERVICE_RATE_LIMIT_PER_MINUTE: '0',
    });
  });
  afterAll(async () => {
    await service?.close();
    await simulator?.stop();
  });
  beforeEach(() => simulator.setFaults(null));

  const upstreams = [
    ['the default openai upstream', 'openai/sim-1', OPENAI_KEY],
    ['a named upstream', 'vllm/sim-1', VLLM_KEY],
    ['an anthropic upstream', 'claude/sim-1', CLAUDE_KEY],
  ] as const;

  // Nest's own colours aside, one entry per line break of any kind.
  const logLines = () => service.logs.join('').replace(/\x1b\[[0-9;]*m/g, '').split(/\r\n|\r|\n|\u2028|\u2029/);

  const expectNoLeak = (text: string, key: string) => {
    for (const leak of leaks(key)) expect(text).not.toContain(leak);
  };

  describe.each(upstreams)('on %s', (_, model, key) => {
    it('redacts an error event inside a 200 chat stream', async () => {
      simulator.setFaults({ count: 1, streamErrorAfterTokens: 2, errorMessage: echoes(key) });
      const response = await postStream(`${service.url}/v1/chat/completions`, chat('Where is the Eiffel Tower?', { model, stream: true }), AbortSignal.timeout(10_000));
      expect(response.status).toBe(200);
      const events = await readSse(response);
      const error = events.find((event) => event.event === 'error');
      // The message still says what went wrong, without the key.
      expect(JSON.parse(error!.data).error.message).toMatch(/Incorrect API key provided: .*redacted/);
      const text = events.map((event) => `${event.event ?? ''}${event.data}`).join('\n');
      seen.push(text);
      expectNoLeak(text, key);
    });

    it('redacts an error event inside a 200 synthesis stream', async () => {
      simulator.setFaults({ count: 1, streamErrorAfterTokens: 2, errorMessage: echoes(key) });
      const body = { question: 'Where is the Eiffel Tower?', sources: [{ id: 'doc-1', text: 'The Eiffel Tower is in Paris. It is tall.' }], model, stream: true };
      const response = await postStream(`${service.url}/v1/synthesis`, body, AbortSignal.timeout(10_000));
      expect(response.status).toBe(200);
      const events = await readSse(response);
      expect(events.map((event) => event.event)).toContain('delta');
      expect(events.at(-1)!.event).toBe('error');
      const text = events.map((event) => `${event.event ?? ''}${event.data}`).join('\n');
      seen.push(text);
      expectNoLeak(text, key);
    });

    it('redacts a whole error body, for chat and synthesis', async () => {
      simulator.setFaults({ count: 2, status: 401, errorMessage: echoes(key) });
      const answer = await postJson(`${service.url}/v1/chat/completions`, chat('hi', { model }), { signal: AbortSignal.timeout(10_000) });
      const synthesis = await postJson(`${service.url}/v1/synthesis`, { question: 'hi', sources: [{ id: 'a', text: 'hi there' }], model }, { signal: AbortSignal.timeout(10_000) });
      for (const response of [answer, synthesis]) {
        expect(response.status).toBe(401);
        expect(response.json.error.message).toMatch(/Incorrect API key provided: .*redacted/);
        seen.push(response.text);
        expectNoLeak(response.text, key);
      }
    });
  });

  it.each(upstreams)('scrubs a key %s put in a 200 answer, whole or streamed', async (_, model, key) => {
    simulator.setFaults({ count: 2, replyText: `Your key is ${key} and ${b64(key)}.` });
    const whole = await postJson(`${service.url}/v1/chat/completions`, chat('hi', { model }), { signal: AbortSignal.timeout(10_000) });
    expect(whole.status).toBe(200);
    expect(whole.json.choices[0].message.content).toBe('Your key is [redacted] and [redacted].');
    const streamed = await postStream(`${service.url}/v1/chat/completions`, chat('hi', { model, stream: true }), AbortSignal.timeout(10_000));
    const text = (await readSse(streamed)).map((event) => event.data).join('\n');
    expect(text).toContain('[DONE]');
    for (const body of [whole.text, text]) {
      seen.push(body);
      expectNoLeak(body, key);
    }
  });

  it('writes a model name with CR/LF as one escaped log line', async () => {
    // Not sim-*: those have a price, and only an unpriced model is logged by name.
    const forged = 'unpriced\r\n[Nest] 1  - 01/01/2025, 00:00:00    LOG [Auth] forged line';
    const response = await postJson(`${service.url}/v1/chat/completions`, chat('hi', { model: `vllm/${forged}` }), { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    const lines = logLines();
    // Once in the unpriced-model warning, once in the request's access log line: each one escaped line.
    expect(lines.filter((line) => line.includes('forged line') && !line.includes('[Access]'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('forged line') && line.includes('[Access]'))).toHaveLength(1);
    expect(lines.some((line) => line.startsWith('[Nest] 1  - 01/01/2025'))).toBe(false);
  });

  it('writes upstream text with CR/LF in a warning as one escaped line', async () => {
    simulator.setFaults({ count: 1, status: 503, path: '/embeddings', errorMessage: 'overloaded\r\n[Nest] 1  - 01/01/2025    LOG [Auth] upstream-forged line\u2028more' });
    const response = await postJson(`${service.url}/v1/search`, { query: 'eiffel tower' }, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    const lines = logLines();
    // Twice, each one escaped line: the upstream's 5xx event, and search falling back to lexical.
    const warnings = lines.filter((line) => line.includes('upstream-forged line'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/WARN \[UpstreamClient\] event=upstream_5xx .*overloaded\\r\\n\[Nest\] 1 .*upstream-forged line\\u2028more/);
    expect(warnings[1]).toMatch(/WARN \[Search\] query embedding failed: .*overloaded\\r\\n\[Nest\] 1 .*upstream-forged line\\u2028more/);
    expect(lines.some((line) => line.startsWith('[Nest] 1  - 01/01/2025'))).toBe(false);
  });

  it('redacts upstream text in logged warnings (search falling back to lexical)', async () => {
    simulator.setFaults({ count: 1, status: 500, path: '/embeddings', errorMessage: echoes(VLLM_KEY) });
    const response = await postJson(`${service.url}/v1/search`, { query: 'eiffel tower' }, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    expect(response.json.degraded).toMatch(/redacted/);
    seen.push(response.text);
    expectNoLeak(response.text, VLLM_KEY);
  });

  it('left no form of any key in the logs or anything a caller received', () => {
    const logs = service.logs.join('');
    // The capture saw the failure it had to redact: otherwise "no key in the logs" would prove nothing.
    expect(logs).toMatch(/query embedding failed: .*Incorrect API key provided: .*redacted/);
    const everything = [logs, ...seen].join('\n');
    for (const key of [OPENAI_KEY, VLLM_KEY, CLAUDE_KEY]) expectNoLeak(everything, key);
  });
});
