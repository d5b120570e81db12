import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { AppModule, type AppModuleOptions } from './app.module';
import { setupOpenApi } from './common/openapi';
import { appConfig, type AppConfig } from './config/app.config';
import { validateEnv } from './config/validate-env';
import { errorEnvelope } from './common/error-envelope';
import { LlmErrorCode } from './common/llm.exception';
import { DrainService } from './lifecycle/drain.service';
import { nestsDeeperThan } from './common/json-depth';

const MAX_JSON_DEPTH = 64;

/** The fully configured application, shared by main.ts and the e2e tests so both run the same thing. */
export async function createApp(options: AppModuleOptions & { logger?: false } = {}): Promise<NestFastifyApplication> {
  // Validate before Nest starts, so a bad configuration is one clear message (ConfigValidationError)
  // instead of a stack trace from Nest's module loader. Values already in the environment win over .env.
  if (!options.ignoreEnvFile && existsSync('.env')) process.loadEnvFile('.env');
  validateEnv(process.env);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(options),
    new FastifyAdapter({
      // Fastify's own limit would cut a long streamed completion; deadlines are ours (LLM_TIMEOUT_MS).
      requestTimeout: 0,
      // A proto-poisoning body is a client error, not something to parse.
      onProtoPoisoning: 'error',
      onConstructorPoisoning: 'error',
    }),
    { logger: options.logger, abortOnError: false },
  );
  const config = app.get<AppConfig>(appConfig.KEY);
  // JSON only (anything else is a 415), with the configured size limit and Fastify's poisoning-safe parser.
  const fastify = app.getHttpAdapter().getInstance();
  const jsonParser = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('text/plain');
  app.useBodyParser('application/json', { bodyLimit: config.bodyLimitBytes }, (req, body, done) =>
    jsonParser(req as never, body as never, (error, parsed) => {
      // No request of ours nests deeply; a body that does is refused before recursive code sees it.
      if (!error && nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
        return done(Object.assign(new Error(`JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400 }), undefined);
      }
      done(error, parsed);
    }),
  );
  // Before init: the document is built from the controllers, and its routes must exist before Fastify is ready.
  setupOpenApi(app);
  trackInFlight(app);
  await app.init();
  const server: Server = app.getHttpServer();
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Headers must arrive within the keep-alive window plus a margin, as Node requires.
  server.headersTimeout = config.keepAliveTimeoutMs + 1_000;
  return app;
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
            .send(errorEnvelope(503, LlmErrorCode.SHUTTING_DOWN, 'the service is shutting down; retry on another instance'));
          return;
        }
      }
      drain.enter();
      reply.raw.once('close', () => drain.leave());
      done();
    });
}
