import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { PoolRegistry } from '../pool/pool-registry';
import { PoolExhaustionIndicator } from './pool-exhaustion.indicator';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly pools: PoolRegistry,
    private readonly exhaustion: PoolExhaustionIndicator,
  ) {}

  /** The process answers: nothing about upstreams, or a slow provider would restart healthy pods. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** Whether this pod should get traffic: every upstream pool has connections to give. */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(this.pools.all().map((pool) => () => this.exhaustion.check(pool)));
  }
}
