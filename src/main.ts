import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { flushLogs } from './common/log-safe';
import { appConfig, type AppConfig } from './config/app.config';
import { ConfigValidationError } from './config/env-reader';
import { DrainService } from './lifecycle/drain.service';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

const logger = new Logger('Bootstrap');

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const { port, host } = app.get<AppConfig>(appConfig.KEY);
  await app.listen(port, host);
  logger.log(`llm-service listening on http://${host}:${port} (stats: /v1/llm/stats, health: /health/ready, docs: /docs)`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(app, signal));
}

/**
 * Readiness goes down and new requests are refused at once; in-flight requests and
 * streams get SHUTDOWN_GRACE_MS to finish; upstream calls still running then are cut
 * and answered 503 SHUTTING_DOWN (never counted against the upstream); then the server
 * closes, destroying the connections still open (idle ones, and ones that never sent a
 * request, which would otherwise hold the close for as long as their clients keep them),
 * the pools' agents are destroyed (onModuleDestroy) and the process exits 0.
 */
async function shutdown(app: NestFastifyApplication, signal: string): Promise<void> {
  const { shutdownGraceMs } = app.get<AppConfig>(appConfig.KEY);
  const drain = app.get(DrainService);
  logger.log(`${signal}: draining ${drain.inFlight} in-flight requests (up to ${shutdownGraceMs} ms); readiness is down`);
  const { completed, cut } = await drain.drainThenCut(shutdownGraceMs);
  if (!completed) logger.warn(`grace period over: ${cut} requests still in flight were cut off (503 SHUTTING_DOWN)`);
  await app.close();
  logger.log('stopped');
  process.exit(0);
}

bootstrap().catch((error: unknown) => {
  // A bad configuration is the operator's to fix: say exactly what, without a stack trace.
  const message = error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  // Lines the logger still holds (it writes once per event-loop turn) come before the reason, not after it.
  flushLogs();
  process.stderr.write(`llm-service failed to start: ${message}\n`);
  process.exit(1);
});
