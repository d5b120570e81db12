import { HttpModule, HttpService } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import type { LlmConfig } from '../config/llm.config';
import { PoolRegistry } from '../pool/pool-registry';
import { UpstreamCatalog } from '../pool/upstream-catalog';
import { ChatCompletionsController } from './chat-completions.controller';
import { EmbeddedSimulator } from './embedded-simulator';
import { EmbeddingsController } from './embeddings.controller';
import { ConfigurableModuleClass, LLM_OPTIONS } from './llm.module-definition';
import { LlmService } from './llm.service';
import { MessagesController } from './messages/messages.controller';
import { MessagesService } from './messages/messages.service';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';
import { UpstreamClient } from './upstream-client';

/**
 * LlmService and the upstream pools behind it. Register with
 * `LlmModule.forRootAsync({ inject: [llmConfig.KEY], useFactory: (cfg) => cfg })`.
 */
@Module({
  imports: [
    HttpModule.register({
      // LLM APIs do not redirect; skipping follow-redirects' wrapper saves ~20 % CPU per request.
      maxRedirects: 0,
      // Upstreams are reached directly: an HTTP(S)_PROXY in the environment must not reroute provider traffic silently.
      proxy: false,
      // Every status is a response to interpret, not an exception to catch.
      validateStatus: () => true,
      // Deadlines are AbortSignals (whole call) and the pool's gate (acquisition); see UpstreamClient.
      timeout: 0,
    }),
  ],
  controllers: [ChatCompletionsController, EmbeddingsController, ModelsController, MessagesController],
  providers: [
    { provide: EmbeddedSimulator, inject: [LLM_OPTIONS], useFactory: (config: LlmConfig) => EmbeddedSimulator.start(config) },
    {
      provide: UpstreamCatalog,
      inject: [LLM_OPTIONS, EmbeddedSimulator],
      useFactory: (config: LlmConfig, embedded: EmbeddedSimulator) => new UpstreamCatalog(config, embedded.simulator),
    },
    PoolRegistry,
    UpstreamClient,
    LlmService,
    ModelsService,
    MessagesService,
  ],
  exports: [LlmService, PoolRegistry, UpstreamCatalog],
})
export class LlmModule extends ConfigurableModuleClass {
  constructor(http: HttpService) {
    super();
    // Every call made here names each header it sends (UpstreamClient, ModelsService). axios would otherwise
    // clone, merge and flatten its per-method groups of default headers on every request: about 3 % of the
    // service's CPU per proxied request (`npm run bench`, scenario 3).
    http.axiosRef.defaults.headers = {} as typeof http.axiosRef.defaults.headers;
  }
}
