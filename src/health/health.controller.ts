import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { RateLimitStoreIndicator } from '../auth/rate-limit-store.indicator';
import { Public } from '../auth/route-access.decorator';
import { PoolRegistry } from '../pool/pool-registry';
import { DatabaseIndicator } from './database.indicator';
import { ShutdownIndicator } from './shutdown.indicator';
import { SimulatorIndicator } from './simulator.indicator';
import { UpstreamReadinessIndicator } from './upstream-readiness.indicator';

const READY_UPSTREAM = { exhaustedInWindow: 0, oldestWaitMs: 0, queued: 0, maxQueue: 256, inFlight: 3, maxConnections: 64, circuit: 'closed', windowMs: 10000, status: 'up' };
const EXHAUSTED_UPSTREAM = { ...READY_UPSTREAM, exhaustedInWindow: 4, oldestWaitMs: 1840, queued: 256, inFlight: 64, status: 'down' };

@ApiTags('health')
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly pools: PoolRegistry,
    private readonly readiness: UpstreamReadinessIndicator,
    private readonly shutdown: ShutdownIndicator,
    private readonly database: DatabaseIndicator,
    private readonly rateLimit: RateLimitStoreIndicator,
    private readonly simulator: SimulatorIndicator,
  ) {}

  /** The process answers: nothing about upstreams, or a slow provider would restart healthy pods. */
  @Get('live')
  @ApiOkResponse({ example: { status: 'ok', info: {}, error: {}, details: {} } })
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers (checks nothing upstream)' })
  live() {
    return this.health.check([]);
  }

  /** Whether this pod should get traffic: every upstream pool has connections to give. */
  @Get('ready')
  @ApiOkResponse({ example: { status: 'ok', info: { 'upstream:openai': READY_UPSTREAM }, error: {}, details: { 'upstream:openai': READY_UPSTREAM } } })
  @ApiServiceUnavailableResponse({
    example: { status: 'error', info: {}, error: { 'upstream:openai': EXHAUSTED_UPSTREAM }, details: { 'upstream:openai': EXHAUSTED_UPSTREAM } },
  })
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: every upstream pool has connections to give; 503 when one is exhausted or shutting down' })
  ready() {
    return this.health.check([
      () => this.shutdown.check(),
      ...this.pools.all().map((pool) => () => this.readiness.check(pool)),
      // Only with DATABASE_URL: the embedded stores have nothing to be down.
      ...(this.database.enabled ? [() => this.database.check()] : []),
      // Only with REDIS_URL: up even while Redis is down (the limit falls back to per pod), with the detail.
      ...(this.rateLimit.enabled ? [() => this.rateLimit.check()] : []),
      // Only with LLM_SIMULATOR=on in production: says so, without taking the pod out.
      ...(this.simulator.enabled ? [() => this.simulator.check()] : []),
    ]);
  }
}
