import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ConsoleLogger } from '@nestjs/common';
import { AccessLog } from './access-log';
import { REQUEST_ID_HEADER } from './request-id';
import { RequestExchange } from './request-exchange';
import type { Tracing } from './tracing';

declare module 'fastify' {
  interface FastifyRequest {
    /** What this request did (upstream, attempts, tokens, ...), for its access log line. */
    exchange: RequestExchange;
  }
}

export interface ObserverOptions {
  /** The embedded simulator answers in production (LLM_SIMULATOR=on): every response says so. */
  simulatorInProduction: boolean;
  /** The app's logger; none (tests with the logger off) = no access log. */
  logger?: ConsoleLogger;
  /** OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set: a server span per request. */
  tracing?: Tracing;
}

/**
 * Per request: its id (Fastify's request.id, from requestIdOf) echoed as x-request-id on every
 * response, errors and refusals included; an exchange record on the request, which handlers pass
 * down with the call (@CallContext); and one access log line when the response closes.
 * Registered before any other hook, so even a request refused by the drain hook has its id.
 */
export function observeRequests(app: NestFastifyApplication, options: ObserverOptions): void {
  const fastify = app.getHttpAdapter().getInstance();
  const accessLog = options.logger ? new AccessLog(options.logger) : undefined;
  fastify.decorateRequest('exchange', null as unknown as RequestExchange);
  fastify.addHook('onRequest', (request, reply, done) => {
    const exchange = new RequestExchange(request.id, performance.now());
    request.exchange = exchange;
    reply.header(REQUEST_ID_HEADER, request.id);
    if (options.simulatorInProduction) reply.header('x-llm-simulator', 'on');
    // 'close', not onResponse: it fires for a stream the caller abandoned too.
    if (accessLog) reply.raw.once('close', () => accessLog.write(request, reply, exchange));
    const { tracing } = options;
    if (tracing) {
      const trace = tracing.request(request.method, request.routeOptions.url, request.headers);
      exchange.trace = trace;
      reply.raw.once('close', () => trace.end(reply.raw.statusCode, exchange, !reply.raw.writableFinished));
    }
    done();
  });
}
