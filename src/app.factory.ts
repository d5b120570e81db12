import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { AppModule, type AppModuleOptions } from './app.module';
import { appConfig, type AppConfig } from './config/app.config';
import { validateEnv } from './config/validate-env';

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
  app.useBodyParser('application/json', { bodyLimit: config.bodyLimitBytes }, (req, body, done) => jsonParser(req as never, body as never, done));
  app.enableShutdownHooks();
  await app.init();
  const server: Server = app.getHttpServer();
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Headers must arrive within the keep-alive window plus a margin, as Node requires.
  server.headersTimeout = config.keepAliveTimeoutMs + 1_000;
  return app;
}
