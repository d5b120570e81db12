import { parseSimulatorEnv } from './simulator-env';

describe('parseSimulatorEnv', () => {
  it('defaults to a plausible hosted model on 127.0.0.1:8090', () => {
    expect(parseSimulatorEnv({})).toEqual({
      ok: true,
      options: { host: '127.0.0.1', port: 8090, tls: false, ttftMs: 200, tokensPerSecond: 50, keepAliveTimeoutMs: 5000 },
    });
  });

  it('reads every variable', () => {
    const result = parseSimulatorEnv({
      SIMULATOR_HOST: '0.0.0.0',
      SIMULATOR_PORT: '0',
      SIMULATOR_TLS: 'true',
      SIMULATOR_TTFT_MS: '0',
      SIMULATOR_TOKENS_PER_SECOND: '1000',
      SIMULATOR_KEEPALIVE_TIMEOUT_MS: '200',
    });
    expect(result).toEqual({
      ok: true,
      options: { host: '0.0.0.0', port: 0, tls: true, ttftMs: 0, tokensPerSecond: 1000, keepAliveTimeoutMs: 200 },
    });
  });

  it('names every invalid variable', () => {
    const result = parseSimulatorEnv({ SIMULATOR_PORT: '70000', SIMULATOR_TLS: 'maybe', SIMULATOR_TTFT_MS: '1.5' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'SIMULATOR_PORT=70000: expected an integer from 0 to 65535',
      'SIMULATOR_TLS=maybe: expected true or false',
      'SIMULATOR_TTFT_MS=1.5: expected an integer from 0 to 600000',
    ]);
  });
});
