import type { ClientRequest, IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Logger } from '@nestjs/common';
import {
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import type { RequestExchange } from './request-exchange';
import type { AttemptDetails, AttemptTrace, RequestTrace, Tracing } from './tracing';

// The GenAI semantic conventions are still incubating (not in the package's stable entry point): their names,
// as of semantic-conventions 1.45. gen_ai.system is the older name of gen_ai.provider.name; both are set.
const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
} as const;

const FLUSH_AT_SHUTDOWN_MS = 2_000;

/** Spans over OTLP/HTTP (JSON), batched; this app's own provider, not the process-global one, so no library's auto-instrumentation doubles ours. */
export class OtelTracing implements Tracing {
  private readonly logger = new Logger('Tracing');
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(url: string, serviceName: string, headers: Record<string, string>) {
    // The SDK reports a failed export (collector down, 401) only through its diagnostic logger, silent by default:
    // send its warnings and errors to ours (the logger is process-wide; one app per process), so an operator sees why no trace arrives.
    const warn = (message: string, ...args: unknown[]) => this.logger.warn([message, ...args.map((arg) => (arg instanceof Error ? arg.message : String(arg)))].join(' '));
    const quiet = () => undefined;
    diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
      // Batched, exported in the background (every 5 s, or at once per 512 spans): the four spans of a request
      // cost ~80 µs of CPU with their export (measured; see README "Tracing").
      // OTEL_BSP_* and OTEL_TRACES_SAMPLER(_ARG) are read by the SDK itself.
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url, headers }))],
    });
    this.tracer = this.provider.getTracer('llm-service');
  }

  request(method: string, route: string | undefined, headers: IncomingHttpHeaders): RequestTrace {
    const parent = this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    // The route pattern, never the raw URL (its query may carry a token); an unmatched request is named by its method alone.
    const span = this.tracer.startSpan(
      route ? `${method} ${route}` : method,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_HTTP_ROUTE]: route } },
      parent,
    );
    return new OtelRequestTrace(this.tracer, this.propagator, span, trace.setSpan(ROOT_CONTEXT, span));
  }

  async shutdown(): Promise<void> {
    // The exporter retries a collector that is down for up to OTEL_EXPORTER_OTLP_TIMEOUT (10 s): the process must
    // still exit within Kubernetes' 30 s grace, after SHUTDOWN_GRACE_MS (25 s) of draining.
    const bound = AbortSignal.timeout(FLUSH_AT_SHUTDOWN_MS);
    // Resolves (never rejects), so it cannot become an unhandled rejection once the flush has won the race.
    const timedOut = new Promise<string>((resolve) => bound.addEventListener('abort', () => resolve(`not done within ${FLUSH_AT_SHUTDOWN_MS} ms`), { once: true }));
    const flushed = this.provider.shutdown().then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    const failure = await Promise.race([flushed, timedOut]);
    // A collector that is down must not fail our shutdown: the spans are lost, and the log says so.
    if (failure !== undefined) this.logger.warn(`the last spans were not exported: ${failure}`);
  }
}

class OtelRequestTrace implements RequestTrace {
  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: W3CTraceContextPropagator,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  admission(upstream: string, queued: number): (outcome: string) => void {
    const span = this.tracer.startSpan('pool.admission', { kind: SpanKind.INTERNAL, attributes: { 'llm.upstream': upstream, 'llm.pool.queued': queued } }, this.context);
    return (outcome) => {
      span.setAttribute('llm.pool.outcome', outcome);
      if (outcome !== 'admitted') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
    };
  }

  attempt(details: AttemptDetails): AttemptTrace {
    const url = new URL(details.url);
    const model = modelOf(details.body);
    const operation = url.pathname.endsWith('/embeddings') ? 'embeddings' : 'chat';
    const attributes: Attributes = {
      [GEN_AI.operation]: operation,
      [GEN_AI.provider]: details.wire,
      [GEN_AI.system]: details.wire,
      [GEN_AI.requestModel]: model,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      [ATTR_URL_FULL]: details.url,
      'llm.upstream': details.upstream,
      'llm.attempt.retry': details.retry,
      'llm.attempt.stale_repeat': details.staleRepeat,
    };
    // The GenAI conventions' client span name: `{operation} {model}`.
    const span = this.tracer.startSpan(model ? `${operation} ${model}` : operation, { kind: SpanKind.CLIENT, attributes }, this.context);
    return new OtelAttemptTrace(span, this.propagator, url.protocol === 'https:');
  }

  end(status: number, exchange: RequestExchange, aborted: boolean): void {
    const span = this.span;
    span.setAttributes({
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
      'llm.request_id': exchange.id,
      'llm.upstream': exchange.upstream,
      [GEN_AI.requestModel]: exchange.model,
      [GEN_AI.inputTokens]: exchange.tokensIn,
      [GEN_AI.outputTokens]: exchange.tokensOut,
      'llm.cost_usd': exchange.costUsd,
      'llm.attempts': exchange.attempts || undefined,
      'llm.stale_retries': exchange.staleRetries || undefined,
      'llm.upstream_request_id': exchange.upstreamRequestId,
      'llm.error_code': exchange.error,
      'llm.aborted': aborted || undefined,
    });
    // A server span fails on a 5xx only: a 4xx is the caller's error, not ours (HTTP semantic conventions).
    if (status >= 500) span.setAttributes({ [ATTR_ERROR_TYPE]: exchange.error ?? String(status) }).setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
}

class OtelAttemptTrace implements AttemptTrace {
  private socketNoted = false;

  constructor(
    private readonly span: Span,
    private readonly propagator: W3CTraceContextPropagator,
    private readonly tls: boolean,
  ) {}

  headers(): Record<string, string> {
    const carrier: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, this.span), carrier, defaultTextMapSetter);
    return carrier;
  }

  answered(status: number, request: unknown, body?: unknown): void {
    this.noteSocket(request);
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // A client span fails on any 4xx/5xx (HTTP semantic conventions), and a 3xx is never an LLM's answer.
    if (status >= 300) this.span.setAttribute(ATTR_ERROR_TYPE, String(status)).setStatus({ code: SpanStatusCode.ERROR });
    if (status >= 200 && status < 300 && body && typeof body === 'object') {
      const { model, id, usage } = body as { model?: unknown; id?: unknown; usage?: Record<string, unknown> };
      // OpenAI counts prompt/completion tokens, Anthropic input/output.
      const input = usage?.prompt_tokens ?? usage?.input_tokens;
      const output = usage?.completion_tokens ?? usage?.output_tokens;
      this.span.setAttributes({
        [GEN_AI.responseModel]: typeof model === 'string' ? model : undefined,
        [GEN_AI.responseId]: typeof id === 'string' ? id : undefined,
        [GEN_AI.inputTokens]: typeof input === 'number' ? input : undefined,
        [GEN_AI.outputTokens]: typeof output === 'number' ? output : undefined,
      });
    }
  }

  failed(kind: string, request: unknown): void {
    this.noteSocket(request);
    this.span.setAttribute(ATTR_ERROR_TYPE, kind).setStatus({ code: SpanStatusCode.ERROR, message: kind });
  }

  firstToken(elapsedMs: number): void {
    this.span.addEvent('gen_ai.first_token', { 'llm.elapsed_ms': Math.round(elapsedMs * 10) / 10 });
  }

  end(): void {
    this.span.end();
  }

  /** Reused keep-alive socket or a new one, and for a new TLS one whether the handshake resumed a session. */
  private noteSocket(request: unknown): void {
    const req = request as (ClientRequest & { reusedSocket?: boolean }) | undefined;
    // No request: the attempt failed before one was made (e.g. the signal had already fired).
    if (this.socketNoted || !req) return;
    this.socketNoted = true;
    const reused = Boolean(req.reusedSocket);
    const socket = req.socket as TLSSocket | null;
    this.span.setAttributes({
      'llm.socket.reused': reused,
      // Every new TLS socket handshakes; a resumed session makes that handshake one round trip cheaper.
      'llm.tls.handshake': !reused && this.tls,
      'llm.tls.session_resumed': !reused && this.tls && socket?.encrypted ? socket.isSessionReused() : undefined,
    });
  }
}

function modelOf(body: unknown): string | undefined {
  const model = (body as { model?: unknown } | undefined)?.model;
  return typeof model === 'string' ? model : undefined;
}
