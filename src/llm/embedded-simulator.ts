import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type { LlmConfig } from '../config/llm.config';
import { UpstreamSimulator } from '../simulator/upstream-simulator';

/**
 * With no provider configured the service still shows its whole path working:
 * it starts the upstream simulator on loopback and routes to it over real sockets.
 */
export class EmbeddedSimulator implements OnApplicationShutdown {
  private readonly logger = new Logger('EmbeddedSimulator');

  private constructor(readonly simulator?: UpstreamSimulator) {}

  static async start(config: LlmConfig): Promise<EmbeddedSimulator> {
    if (!config.simulator.enabled) return new EmbeddedSimulator();
    const simulator = new UpstreamSimulator({
      host: '127.0.0.1',
      ttftMs: config.simulator.ttftMs,
      tokensPerSecond: config.simulator.tokensPerSecond,
    });
    await simulator.start();
    const embedded = new EmbeddedSimulator(simulator);
    embedded.logger.warn(
      config.simulator.production
        ? `LLM_SIMULATOR=on with NODE_ENV=production: the embedded upstream simulator answers at ${simulator.origin}; ` +
            `every response carries x-llm-simulator: on and /health/ready reports it. Its answers are extractive stand-ins, not a model's.`
        : `No provider configured (OPENAI_API_KEY, ANTHROPIC_API_KEY, LLM_UPSTREAMS) or LLM_SIMULATOR=on: routing to the embedded ` +
            `upstream simulator at ${simulator.origin} over real sockets. Its answers are extractive stand-ins, not a model's.`,
    );
    return embedded;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.simulator?.stop();
  }
}
