import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

/** OpenTelemetry tracing, under the standard OTEL_* names so a platform's usual injection just works. */
export interface TracingConfig {
  /** Where spans go (OTLP/HTTP, JSON); undefined = tracing off, and no OpenTelemetry code is even loaded. */
  tracesUrl?: string;
  serviceName: string;
  /** Sent with every export (a collector's auth token): never logged. */
  headers: Record<string, string>;
}

export function parseTracingEnv(env: EnvReader): TracingConfig {
  // The generic endpoint gets the signal's path appended; the traces-specific one is used as it is (the OTLP spec).
  const base = env.raw('OTEL_EXPORTER_OTLP_ENDPOINT');
  const traces = env.raw('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const tracesUrl = traces
    ? env.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', '', traces)
    : base
      ? `${env.url('OTEL_EXPORTER_OTLP_ENDPOINT', '', base)}/v1/traces`
      : undefined;
  return {
    // A bad URL has been named by env.url; tracing stays off rather than half on.
    tracesUrl: tracesUrl && tracesUrl !== '/v1/traces' ? tracesUrl : undefined,
    serviceName: env.string('OTEL_SERVICE_NAME', 'llm-service'),
    headers: parseHeaders(env),
  };
}

/** `key=value,key2=value2`, values URL-encoded (the OTLP exporter spec's format). */
function parseHeaders(env: EnvReader): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of env.list('OTEL_EXPORTER_OTLP_HEADERS')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    if (at <= 0 || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
      // The value may be a token: name the variable, never echo it.
      env.fail('OTEL_EXPORTER_OTLP_HEADERS', '<redacted>', 'comma-separated key=value pairs');
      return {};
    }
    try {
      headers[name.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      env.fail('OTEL_EXPORTER_OTLP_HEADERS', '<redacted>', 'URL-encoded header values');
      return {};
    }
  }
  return headers;
}

export const tracingConfig = registerAs('tracing', () => parseOrThrow(process.env, parseTracingEnv));
