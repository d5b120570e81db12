import { parseLlmEnv } from '../config/llm.config';
import { EnvReader } from '../config/env-reader';
import { EmbeddedSimulator } from './embedded-simulator';

describe('EmbeddedSimulator boot message', () => {
  const config = (env: Record<string, string>) => parseLlmEnv(new EnvReader(env));

  it('says the simulator runs beside the configured providers when LLM_SIMULATOR=on', () => {
    const message = EmbeddedSimulator.bootMessage(config({ LLM_SIMULATOR: 'on', OPENAI_API_KEY: 'sk-test' }), 'http://127.0.0.1:1');
    expect(message).toContain('beside the configured providers (openai)');
    expect(message).not.toContain('No provider configured');
  });

  it('says no provider is configured when none is', () => {
    expect(EmbeddedSimulator.bootMessage(config({}), 'http://127.0.0.1:1')).toMatch(/^No provider configured/);
  });
});
