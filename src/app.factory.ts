import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { isUtf8 } from 'node:buffer';
import { existsSync } from 'node:fs';
import { AppModule, type AppModuleOptions } from './app.module';
import { setupOpenApi } from './common/openapi';
import { appConfig, LOG_LEVELS, type AppConfig, type LogLevelName } from './config/app.config';
import { validateEnv } from './config/validate-env';
import { errorEnvelope } from './common/error-envelope';
import { LlmErrorCode } from './common/llm.exception';
import { DrainService } from './lifecycle/drain.service';
import { nestsDeeperThan } from './common/json-depth';
import { clientErrorHandler } from './common/client-error-handler';
import { SafeConsoleLogger } from './common/log-safe';
import { redactSecrets, registerSecrets } from './common/redact';
import { llmConfig, type LlmConfig } from './config/llm.config';
import { observeRequests } from './observability/request-observer';
import { startTracing } from './observability/tracing';
import { tracingConfig } from './config/tracing.config';
import { requestIdOf } from './observability/request-id';

const MAX_JSON_DEPTH = 64;

/** The fully configured application, shared by main.ts and the e2e tests so both run the same thing. */
export async function createApp(options: AppModuleOptions & { logger?: false } = {}): Promise<NestFastifyApplication> {
  // Validate before Nest starts, so a bad configuration is one clear message (ConfigValidationError)
  // instead of a stack trace from Nest's module loader. Values already in the environment win over .env.
  if (!options.ignoreEnvFile && existsSync('.env')) process.loadEnvFile('.env');
  validateEnv(process.env);
  // The server's timeouts are fixed when Fastify creates it, before Nest reads the config: read it here too.
  const inbound = appConfig();
  // Off (and no OpenTelemetry module loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = startTracing(tracingConfig());
  const logger = options.logger ?? new SafeConsoleLogger({ json: inbound.logFormat === 'json', logLevels: nestLogLevels(inbound.logLevel) });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(options),
    new FastifyAdapter({
      // Bounds receiving a request only (from its first byte to the end of its body), never the response:
      // a streamed completion runs under LLM_TIMEOUT_MS, however long after its request arrived.
      requestTimeout: inbound.requestTimeoutMs,
      // Longer than a load balancer's idle timeout, so it never reuses a socket we are closing.
      keepAliveTimeout: inbound.keepAliveTimeoutMs,
      http: {
        // Node counts headersTimeout from the same first byte and refuses one above requestTimeout. Within
        // that, it stays past the keep-alive window: a connection a balancer opened ahead lives as long as an idle one.
        headersTimeout: Math.min(inbound.keepAliveTimeoutMs + 1_000, inbound.requestTimeoutMs),
        requestTimeout: inbound.requestTimeoutMs,
        // Node checks both every 30 s by default, so a 30 s timeout could take a minute to fire.
        connectionsCheckingInterval: 1_000,
      },
      // Closing the app destroys every connection still open. main.ts closes it only once the drain is over (every
      // request finished, or cut at the end of the grace period), so what is left is a connection that sent no
      // request: Node counts one as active from accept (for headersTimeout), so the default ('idle') skips it, and
      // close() stops the timer that would expire it. fetch opens one right after a caller aborts a stream; it held
      // close() until the client dropped it: 63 s behind our 65 s keep-alive, forever for a client that never does.
      forceCloseConnections: true,
      clientErrorHandler: clientErrorHandler(inbound.requestTimeoutMs),
      // A proto-poisoning body is a client error, not something to parse.
      onProtoPoisoning: 'error',
      onConstructorPoisoning: 'error',
      // request.id is the caller's x-request-id when valid, else a new UUID (never Fastify's bare counter).
      requestIdHeader: false,
      genReqId: requestIdOf,
    }),
    // Every log line escaped and scrubbed of keys, whichever class writes it; JSON unless on a terminal.
    { logger, abortOnError: false },
  );
  // Upstream text bound for a caller or a log (error messages, stream events) is scrubbed of these keys.
  registerSecrets(app.get<LlmConfig>(llmConfig.KEY).upstreams.flatMap((upstream) => upstream.apiKeys));
  const config = app.get<AppConfig>(appConfig.KEY);
  // JSON only (anything else is a 415), with the configured size limit and Fastify's poisoning-safe parser.
  const fastify = app.getHttpAdapter().getInstance();
  const jsonParser = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('text/plain');
  app.useBodyParser('application/json', { bodyLimit: config.bodyLimitBytes }, (req, body, done) => {
    // Decoding would silently turn invalid bytes into U+FFFD, text the caller never sent, and forward it.
    if (Buffer.isBuffer(body) && !isUtf8(body)) return done(Object.assign(new Error('body is not valid UTF-8'), { statusCode: 400 }), undefined);
    jsonParser(req as never, body as never, (error, parsed) => {
      // No request of ours nests deeply; a body that does is refused before recursive code sees it.
      if (!error && nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
        return done(Object.assign(new Error(`JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400 }), undefined);
      }
      done(error, parsed);
    });
  });
  // Before init: the document is built from the controllers, and its routes must exist before Fastify is ready.
  setupOpenApi(app);
  // First: every later hook's answer (the drain's 503 included) carries the request id.
  observeRequests(app, { simulatorInProduction: app.get<LlmConfig>(llmConfig.KEY).simulator.production, logger: logger || undefined, tracing });
  // Fastify closes after Nest has drained: the last requests' spans are exported before the process exits.
  if (tracing) fastify.addHook('onClose', () => tracing.shutdown());
  trackInFlight(app);
  scrubResponses(app);
  try {
    await app.init();
  } catch (error) {
    // A half-started app holds what its modules opened (the simulator, pools, timers): let them go, so a
    // failed boot exits instead of lingering.
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/** LOG_LEVEL and every more severe level, in Nest's names (`log` is info). */
function nestLogLevels(level: LogLevelName): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1).map((name) => (name === 'info' ? 'log' : name));
}

/**
 * Upstream answers are passed on with whatever fields they carry (a completion, an embeddings list): no
 * whole body leaves with a configured key in it. About 4 ms per MB, once per response; streams are
 * scrubbed event by event by their writer (sse-response.ts).
 */
function scrubResponses(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', (_request, _reply, payload, done) => done(null, typeof payload === 'string' ? redactSecrets(payload) : payload));
}

/**
 * Counts every inbound request until its response closes (streams included), so a
 * shutdown can wait for them; while draining, new /v1 work is refused with 503 and
 * every response asks the client to reconnect elsewhere.
 */
function trackInFlight(app: NestFastifyApplication): void {
  const drain = app.get(DrainService);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      if (drain.isDraining) {
        reply.header('connection', 'close');
        if (request.url.startsWith('/v1/')) {
          reply
            .code(503)
            .header('retry-after', '1')
            .send(errorEnvelope(503, LlmErrorCode.SHUTTING_DOWN, 'the service is shutting down; retry on another instance', { request_id: request.id }));
          return;
        }
      }
      drain.enter();
      reply.raw.once('close', () => drain.leave());
      done();
    });
}
