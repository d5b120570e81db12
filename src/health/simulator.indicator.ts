import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { llmConfig, type LlmConfig } from '../config/llm.config';

/**
 * Says, in /health/ready, that the embedded simulator answers in production (LLM_SIMULATOR=on with
 * NODE_ENV=production). Up, never down: it was asked for explicitly, but an operator reading
 * readiness must not mistake its stand-in answers for a model's.
 */
@Injectable()
export class SimulatorIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(llmConfig.KEY) private readonly config: LlmConfig,
  ) {}

  get enabled(): boolean {
    return this.config.simulator.production;
  }

  check(): HealthIndicatorResult {
    return this.indicators.check('simulator').up({
      mode: 'on',
      environment: 'production',
      note: "LLM_SIMULATOR=on: the embedded simulator answers upstreams simulator and simulator-anthropic with stand-in text, not a model's",
    });
  }
}
