import { spawnService } from './support/spawn-service';

/** Runs the real entry point and collects what it printed before it stopped. */
async function boot(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stderr: string }> {
  const { child, output, exited } = spawnService(env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, stderr: output() };
}

describe('boot with a bad configuration', () => {
  it('stops with exit code 1 and one message naming each bad variable', async () => {
    const { code, stderr } = await boot({
      LLM_MAX_CONNECTIONS: 'ten',
      LLM_MAX_QUEUE: '-1',
      PORT: 'http',
      OPENAI_API_KEY: 'sk-never-printed',
      LLM_UPSTREAMS: 'broken',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Invalid configuration (4 problems)');
    expect(stderr).toContain('LLM_MAX_CONNECTIONS="ten": expected an integer from 1 to 10000');
    expect(stderr).toContain('LLM_MAX_QUEUE="-1": expected an integer from 0 to 1000000');
    expect(stderr).toContain('PORT="http": expected an integer from 0 to 65535');
    expect(stderr).toContain('LLM_UPSTREAMS="broken"');
    expect(stderr).not.toContain('sk-never-printed');
    expect(stderr).not.toMatch(/\n\s+at /); // a message for an operator, not a stack trace
  }, 30_000);
});
