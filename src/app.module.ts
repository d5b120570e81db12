import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import { redisConfig } from './auth/redis.config';
import { ErrorEnvelopeFilter } from './common/error-envelope.filter';
import { createValidationPipe } from './common/validation.pipe';
import { appConfig } from './config/app.config';
import { healthConfig } from './config/health.config';
import { llmConfig, type LlmConfig } from './config/llm.config';
import { securityConfig } from './config/security.config';
import { validateEnv } from './config/validate-env';
import { costConfig } from './cost/cost.config';
import { CostModule } from './cost/cost.module';
import { databaseConfig } from './database/database.config';
import { HealthModule } from './health/health.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { LlmModule } from './llm/llm.module';
import { MetricsModule } from './metrics/metrics.module';
import { searchConfig } from './search/search.config';
import { SearchModule } from './search/search.module';
import { StatsModule } from './stats/stats.module';
import { SynthesisModule } from './synthesis/synthesis.module';

export interface AppModuleOptions {
  /** Tests boot from their own environment only, never from a developer's .env. */
  ignoreEnvFile?: boolean;
}

@Module({})
export class AppModule {
  /** A function, not a static import list, so configuration is read when the app boots rather than when this file loads. */
  static forRoot(options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          cache: true,
          ignoreEnvFile: options.ignoreEnvFile,
          load: [appConfig, llmConfig, healthConfig, costConfig, securityConfig, searchConfig, databaseConfig, redisConfig],
          validate: validateEnv,
        }),
        CostModule,
        LifecycleModule,
        LlmModule.forRootAsync({ inject: [llmConfig.KEY], useFactory: (config: LlmConfig) => config }),
        StatsModule,
        MetricsModule,
        HealthModule,
        SearchModule,
        SynthesisModule,
        AuthModule,
        // Read here, at boot: without an admin key the admin routes are not registered at all (404).
        AdminModule.register(securityConfig()),
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
