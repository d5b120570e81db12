import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, getJson, postJson, request, startService, type RunningService } from './support/service-harness';
import { spawnService } from './support/spawn-service';

/** Runs the real entry point and collects what it printed before it stopped. */
async function boot(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  const { child, output, exited } = spawnService(env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, output: output() };
}

describe('safe production defaults (NODE_ENV=production)', () => {
  it('refuses to boot without a provider, naming the variables it looked for, instead of starting the simulator', async () => {
    // A Secret that misnames the key: the pod must not come up answering with stand-in text.
    const { code, output } = await boot({ NODE_ENV: 'production', OPENAI_KEY: 'sk-misnamed-never-printed', LLM_SIMULATOR: 'auto', PORT: '0' });
    expect(code).toBe(1);
    expect(output).toContain('llm-service failed to start');
    for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'LLM_UPSTREAMS', 'LLM_SIMULATOR=on']) expect(output).toContain(name);
    expect(output).toContain('NODE_ENV=production');
    expect(output).not.toContain('sk-misnamed-never-printed');
    expect(output).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('refuses the same way in-process (unset LLM_SIMULATOR is auto)', async () => {
    await expect(startService({ NODE_ENV: 'production' })).rejects.toThrow(/LLM_SIMULATOR="auto": expected a configured provider with NODE_ENV=production[\s\S]*OPENAI_API_KEY[\s\S]*LLM_UPSTREAMS/);
  });

  it('outside production, auto still starts the simulator (a laptop needs no key)', async () => {
    const service = await startService({ NODE_ENV: 'development', LLM_SIMULATOR_TTFT_MS: '0', LLM_SIMULATOR_TOKENS_PER_SECOND: '0' });
    try {
      const answer = await postJson(`${service.url}/v1/chat/completions`, chat('hello'));
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-llm-simulator')).toBeNull();
    } finally {
      await service.close();
    }
  });

  describe('with LLM_SIMULATOR=on explicitly', () => {
    let service: RunningService;
    beforeAll(async () => {
      service = await startService({ NODE_ENV: 'production', LLM_SIMULATOR: 'on', LLM_SIMULATOR_TTFT_MS: '0', LLM_SIMULATOR_TOKENS_PER_SECOND: '0' });
    });
    afterAll(() => service?.close());

    it('says so on every response (x-llm-simulator: on), errors included', async () => {
      const answer = await postJson(`${service.url}/v1/chat/completions`, chat('hello'));
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-llm-simulator')).toBe('on');
      expect((await request('GET', `${service.url}/v1/nowhere`)).headers.get('x-llm-simulator')).toBe('on');
      expect((await getJson(`${service.url}/health/live`)).headers.get('x-llm-simulator')).toBe('on');
    });

    it('says so in /health/ready, and stays ready', async () => {
      const ready = await getJson(`${service.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(ready.json.details.simulator).toMatchObject({ status: 'up', mode: 'on', environment: 'production' });
    });
  });

  it('with a provider configured in production, no simulator and no header', async () => {
    const simulator = new UpstreamSimulator();
    await simulator.start();
    const service = await startService({ NODE_ENV: 'production', OPENAI_BASE_URL: simulator.openAiBaseUrl, OPENAI_API_KEY: 'sk-test-production-0123456789' });
    try {
      const ready = await getJson(`${service.url}/health/ready`);
      expect(ready.json.details).not.toHaveProperty('simulator');
      expect(Object.keys(ready.json.details)).toContain('upstream:openai');
      expect(ready.headers.get('x-llm-simulator')).toBeNull();
    } finally {
      await service.close();
      await simulator.stop();
    }
  });
});
