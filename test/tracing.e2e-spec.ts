import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, listenWithEnv, postJson, readSse, routesTo } from './support/service-harness';
import { freePort, spawnLiveService } from './support/spawn-service';

/** What an OTLP/HTTP JSON export carries, as far as these tests read it. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string }>;
  status?: { code?: number };
}
const SERVER = 2;
const CLIENT = 3;

/** An in-process OTLP/HTTP receiver on loopback: every span exported to POST /v1/traces, with its resource's service name. */
class OtlpReceiver {
  readonly spans: Array<OtlpSpan & { service: string }> = [];
  requests = 0;
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests++;
      if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = resourceSpans.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue;
          for (const scope of resourceSpans.scopeSpans ?? []) for (const span of scope.spans ?? []) this.spans.push({ ...span, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** An OTLP attribute's plain value (ints arrive as strings or numbers, depending on the serializer). */
function attr(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if ('intValue' in value) return Number(value.intValue);
  return value.stringValue ?? value.boolValue ?? value.doubleValue;
}

const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`;

const loadedOtelSdk = () => Object.keys(require.cache).filter((path) => /@opentelemetry[\\/](sdk-trace|exporter-trace|otlp-)|tracing-otel/.test(path));

// First in this file: the module registry is the file's, and the next describe loads the SDK.
describe('tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)', () => {
  it('loads no OpenTelemetry SDK, starts no exporter, and sends no traceparent of its own', async () => {
    const simulator = new UpstreamSimulator();
    await simulator.start();
    const { app, url } = await listenWithEnv({ ...routesTo(simulator), LLM_MODEL: 'sim-1', SEARCH_SAMPLE_CORPUS: 'false' }, { logger: false });
    try {
      const answer = await postJson(`${url}/v1/chat/completions`, chat('hello'), { headers: { traceparent: TRACEPARENT, 'x-request-id': 'trace-off' } });
      expect(answer.status).toBe(200);
      expect(loadedOtelSdk()).toEqual([]);
      expect(simulator.received.find((r) => r.requestId === 'trace-off')?.traceparent).toBeUndefined();
    } finally {
      await app.close();
      await simulator.stop();
    }
  });
});

// The real process: the OTLP exporter loads node:http with a dynamic import(), which Jest's module sandbox refuses.
describe('tracing on: OTLP/HTTP spans for inbound request → pool admission → upstream attempts → first token', () => {
  let receiver: OtlpReceiver;
  let simulator: UpstreamSimulator;
  let searchDir: string;

  beforeAll(async () => {
    receiver = new OtlpReceiver();
    simulator = new UpstreamSimulator();
    await simulator.start();
    searchDir = mkdtempSync(join(tmpdir(), 'llm-tracing-'));
  });

  afterAll(async () => {
    await simulator?.stop();
    await receiver?.stop();
    rmSync(searchDir, { recursive: true, force: true });
  });

  it('continues the caller trace, nests the spans by parent id, carries the GenAI attributes, and propagates traceparent upstream', async () => {
    const endpoint = await receiver.start();
    const service = await spawnLiveService({
      ...routesTo(simulator),
      LLM_MODEL: 'sim-1',
      LLM_MAX_RETRIES: '1',
      SEARCH_SAMPLE_CORPUS: 'false',
      SEARCH_DATA_DIR: searchDir,
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE_MS: '1000',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: 'llm-service-under-test',
      // Nothing is exported on the timer within this test: every span must come from the flush at shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const { url } = service;
    try {
      const stream = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: TRACEPARENT, 'x-request-id': 'trace-stream' },
        body: JSON.stringify(chat('tell me a story', { stream: true, stream_options: { include_usage: true } })),
      });
      await readSse(stream);

      simulator.setFaults({ status: 503, retryAfterMs: 10, count: 1 });
      const retried = await postJson(`${url}/v1/chat/completions`, chat('again'), { headers: { 'x-request-id': 'trace-retry' } });
      simulator.setFaults(null);
      expect(retried.status).toBe(200);

      // SIGTERM: the app closes, and closing flushes the batch before the process exits.
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    } finally {
      service.child.kill('SIGKILL');
    }
    expect(receiver.requests).toBeGreaterThan(0);

    const inTrace = receiver.spans.filter((span) => span.traceId === CALLER_TRACE_ID);
    const server = inTrace.find((span) => span.kind === SERVER)!;
    expect(server).toMatchObject({ name: 'POST /v1/chat/completions', parentSpanId: CALLER_SPAN_ID, service: 'llm-service-under-test' });
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(attr(server, 'http.route')).toBe('/v1/chat/completions');
    expect(attr(server, 'llm.request_id')).toBe('trace-stream');
    expect(attr(server, 'gen_ai.request.model')).toBe('sim-1');
    expect(attr(server, 'gen_ai.usage.input_tokens')).toEqual(expect.any(Number));
    expect(attr(server, 'gen_ai.usage.output_tokens')).toBeGreaterThan(0);

    const children = inTrace.filter((span) => span.parentSpanId === server.spanId);
    const admission = children.find((span) => span.name === 'pool.admission')!;
    const attempt = children.find((span) => span.kind === CLIENT)!;
    expect(attr(admission, 'llm.upstream')).toBe('sim');
    expect(attr(admission, 'llm.pool.outcome')).toBe('admitted');
    expect(BigInt(admission.startTimeUnixNano)).toBeLessThanOrEqual(BigInt(attempt.startTimeUnixNano));

    expect(attempt.name).toBe('chat sim-1');
    expect(attr(attempt, 'gen_ai.operation.name')).toBe('chat');
    expect(attr(attempt, 'gen_ai.provider.name')).toBe('openai');
    expect(attr(attempt, 'gen_ai.system')).toBe('openai');
    expect(attr(attempt, 'gen_ai.request.model')).toBe('sim-1');
    expect(attr(attempt, 'server.address')).toBe('127.0.0.1');
    expect(attr(attempt, 'http.response.status_code')).toBe(200);
    expect(attr(attempt, 'llm.attempt.retry')).toBe(0);
    expect(attr(attempt, 'llm.attempt.stale_repeat')).toBe(false);
    expect(attr(attempt, 'llm.socket.reused')).toBe(false);
    expect(attr(attempt, 'llm.tls.handshake')).toBe(false);
    expect(attempt.events?.map((event) => event.name)).toContain('gen_ai.first_token');

    // The upstream saw the attempt as its parent, in the caller's trace.
    const seen = simulator.received.find((r) => r.requestId === 'trace-stream')!;
    expect(seen.traceparent).toBe(`00-${CALLER_TRACE_ID}-${attempt.spanId}-01`);

    // A call without a caller trace starts its own; its 503 and the retry are two attempts under one server span.
    const retriedServer = receiver.spans.find((span) => span.kind === SERVER && attr(span, 'llm.request_id') === 'trace-retry')!;
    expect(retriedServer.traceId).not.toBe(CALLER_TRACE_ID);
    expect(retriedServer.parentSpanId || undefined).toBeUndefined();
    const attempts = receiver.spans
      .filter((span) => span.kind === CLIENT && span.parentSpanId === retriedServer.spanId)
      .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    expect(attempts.map((span) => [attr(span, 'http.response.status_code'), attr(span, 'llm.attempt.retry')])).toEqual([
      [503, 0],
      [200, 1],
    ]);
    expect(attempts[0].status?.code).toBe(2); // ERROR
    // The socket the 503 came back on went back to the pool: the retry reused it.
    expect(attr(attempts[1], 'llm.socket.reused')).toBe(true);
    expect(attr(attempts[1], 'gen_ai.response.model')).toEqual(expect.any(String));
    expect(attr(attempts[1], 'gen_ai.usage.output_tokens')).toBeGreaterThan(0);
    expect(receiver.spans.filter((span) => span.parentSpanId === retriedServer.spanId && span.name === 'pool.admission')).toHaveLength(2);
  }, 40_000);

  it('a collector that is down costs the spans, not the shutdown: the process still exits 0 and says why', async () => {
    const service = await spawnLiveService({
      ...routesTo(simulator),
      LLM_MODEL: 'sim-1',
      SEARCH_SAMPLE_CORPUS: 'false',
      SEARCH_DATA_DIR: searchDir,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      SHUTDOWN_GRACE_MS: '1000',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const { url } = service;
    try {
      expect((await postJson(`${url}/v1/chat/completions`, chat('hello'))).status).toBe(200);
      const signalled = Date.now();
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      // The exporter would retry for 10 s: the flush at shutdown is bounded at 2 s.
      expect(Date.now() - signalled).toBeLessThan(5_000);
    } finally {
      service.child.kill('SIGKILL');
    }
    expect(service.output()).toMatch(/"context":"Tracing","msg":"the last spans were not exported: /);
  }, 40_000);
});
