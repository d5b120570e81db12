import { Controller, Get, Param } from '@nestjs/common';
import { SpendTracker } from '../cost/spend-tracker';
import { PoolRegistry } from '../pool/pool-registry';

/** The truth about every pool, read from the counters the pools keep. */
@Controller('v1/llm/stats')
export class PoolStatsController {
  constructor(
    private readonly pools: PoolRegistry,
    private readonly spend: SpendTracker,
  ) {}

  @Get()
  all() {
    return { generatedAt: new Date().toISOString(), ...this.pools.snapshot(), spend: this.spend.snapshot() };
  }

  @Get(':upstream')
  one(@Param('upstream') upstream: string) {
    return { generatedAt: new Date().toISOString(), ...this.pools.get(upstream).snapshot() };
  }
}
