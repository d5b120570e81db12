import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { appConfig, type AppConfig } from './config/app.config';
import { ConfigValidationError } from './config/env-reader';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const { port, host } = app.get<AppConfig>(appConfig.KEY);
  await app.listen(port, host);
  new Logger('Bootstrap').log(`llm-service listening on http://${host}:${port} (stats: /v1/llm/stats, health: /health/ready)`);
}

bootstrap().catch((error: unknown) => {
  // A bad configuration is the operator's to fix: say exactly what, without a stack trace.
  const message = error instanceof ConfigValidationError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`llm-service failed to start: ${message}\n`);
  process.exit(1);
});
