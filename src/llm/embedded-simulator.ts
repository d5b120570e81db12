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
    embedded.logger.warn(EmbeddedSimulator.bootMessage(config, simulator.origin));
    return embedded;
  }

  /** What is true at boot: the simulator alone (no provider), or beside the providers because LLM_SIMULATOR=on. */
  static bootMessage(config: LlmConfig, origin: string): string {
    const stand = "Its answers are extractive stand-ins, not a model's.";
    if (config.simulator.production) {
      return `LLM_SIMULATOR=on with NODE_ENV=production: the embedded upstream simulator answers at ${origin}; ` +
        `every response carries x-llm-simulator: on and /health/ready reports it. ${stand}`;
    }
    const providers = config.upstreams.filter((upstream) => !upstream.embedded).map((upstream) => upstream.name);
    if (providers.length > 0) {
      return `LLM_SIMULATOR=on: the embedded upstream simulator answers at ${origin} as upstreams simulator and simulator-anthropic, ` +
        `beside the configured providers (${providers.join(', ')}); the default upstream is ${config.defaultUpstream}. ${stand}`;
    }
    return `No provider configured (OPENAI_API_KEY, ANTHROPIC_API_KEY, LLM_UPSTREAMS): routing to the embedded upstream simulator ` +
      `at ${origin} over real sockets. ${stand}`;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.simulator?.stop();
  }
}
