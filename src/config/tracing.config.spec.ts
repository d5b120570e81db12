import { EnvReader } from './env-reader';
import { parseTracingEnv } from './tracing.config';

const parse = (env: Record<string, string>) => {
  const reader = new EnvReader(env);
  return { config: parseTracingEnv(reader), problems: reader.problems };
};

describe('tracing config', () => {
  it('is off unless an endpoint is set', () => {
    expect(parse({}).config).toEqual({ tracesUrl: undefined, serviceName: 'llm-service', headers: {} });
  });

  it('appends /v1/traces to the generic endpoint and takes the traces endpoint as it is', () => {
    expect(parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).config.tracesUrl).toBe('http://collector:4318/v1/traces');
    expect(
      parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp' }).config.tracesUrl,
    ).toBe('https://traces.example/otlp');
  });

  it('names a bad endpoint and stays off', () => {
    const { config, problems } = parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(config.tracesUrl).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^OTEL_EXPORTER_OTLP_ENDPOINT=.*http/)]);
  });

  it('reads export headers, URL-decoded, and never echoes a malformed one (it may be a token)', () => {
    expect(parse({ OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc, x-tenant=t1' }).config.headers).toEqual({ authorization: 'Bearer abc', 'x-tenant': 't1' });
    const { problems } = parse({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-without-a-name' });
    expect(problems).toEqual(['OTEL_EXPORTER_OTLP_HEADERS="<redacted>": expected comma-separated key=value pairs']);
  });
});
