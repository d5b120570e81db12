import { Controller, Get, Param, Query, Sse, type MessageEvent } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Observable } from 'rxjs';
import { errorEnvelope } from '../common/error-envelope';
import { ApiErrorResponses } from '../common/openapi';
import { PoolRegistry } from '../pool/pool-registry';
import { PoolStatsService } from './pool-stats.service';
import { STREAM_INTERVAL_MS, StatsStreamQueryDto } from './stats-stream-query.dto';

// Abridged: the real snapshot has every counter of PoolSnapshot (pool-snapshot.ts).
const POOL_EXAMPLE = {
  upstream: 'openai',
  origin: 'https://api.openai.com',
  wire: 'openai',
  sockets: { created: 12, open: 10, active: 3, idle: 7, closed: 2, closedByReason: { idle_expiry: 2 } },
  requests: { total: 1840, reused: 1828, reuseRate: 0.9935, succeeded: 1836, failed: 4, inFlight: 3, queued: 0, peakInFlight: 11 },
  poolExhausted: { total: 0, queueFull: 0, waitTimeout: 0 },
  latencyMs: { acquireWait: { p50: 0, p95: 0.4, p99: 2.1 }, upstream: { p50: 420, p95: 910, p99: 1320 } },
};

/** The truth about every pool, read from the counters the pools keep. */
@ApiTags('stats')
@ApiErrorResponses(401)
@Controller('v1/llm/stats')
export class PoolStatsController {
  constructor(
    private readonly pools: PoolRegistry,
    private readonly stats: PoolStatsService,
  ) {}

  @Get()
  @ApiOperation({ summary: "Every upstream pool's counters, totals, and this month's spend" })
  @ApiOkResponse({
    description: 'Counters read from the pools (abridged example).',
    example: {
      generatedAt: '2025-06-01T12:00:00.000Z',
      upstreams: [POOL_EXAMPLE],
      // The fleet's spend with DATABASE_URL (store "postgres"), else this process's (store "embedded").
      spend: {
        month: '2025-06',
        store: 'postgres',
        budgetLimitUsd: 100,
        available: true,
        totalUsd: 1.234567,
        reservedUsd: 0.0123,
        reservations: 3,
        estimatedUsage: 0,
        pendingSettles: 0,
        byModel: [{ upstream: 'openai', model: 'gpt-4o-mini', requests: 1836, promptTokens: 912000, completionTokens: 301000, estimatedUsage: 0, costUsd: 1.234567, unpriced: false }],
        byCaller: [{ caller: 'key-1', requests: 1836, promptTokens: 912000, completionTokens: 301000, estimatedUsage: 0, costUsd: 1.234567 }],
      },
      // Per caller across the fleet with REDIS_URL ("fleet"); per pod without it or while Redis is down.
      rateLimit: { store: 'redis', scope: 'fleet', redis: { status: 'up', connection: 'ready', commandTimeoutMs: 500, sharedChecks: 1840, localFallbacks: 0 } },
      // This pod's PostgreSQL pool (enabled false without DATABASE_URL); reason only while unavailable.
      database: { enabled: true, ready: true, pool: { max: 10, total: 3, idle: 2, waiting: 0 } },
    },
  })
  all() {
    return this.stats.current();
  }

  // A static segment: Fastify matches it before `:upstream`, whatever the order here.
  @Sse('stream')
  @ApiErrorResponses(400)
  @ApiOperation({
    summary: 'The same snapshot as GET /v1/llm/stats, as server-sent events: one at once, then one every intervalMs (default 1 s)',
    description:
      'For dashboards. A browser EventSource cannot send headers, so this route (only) also takes the key as `?access_token=`. ' +
      'The stream ends when the service starts shutting down; reconnect to reach another instance.',
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: 'One `data:` event per snapshot, each the JSON of GET /v1/llm/stats (abridged example).',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example: `data: ${JSON.stringify({ generatedAt: '2025-06-01T12:00:00.000Z', upstreams: [POOL_EXAMPLE], totals: { upstreams: 1, requests: 1840 } })}\n\n`,
      },
    },
  })
  stream(@Query() query: StatsStreamQueryDto): Observable<MessageEvent> {
    return this.stats.stream(query.intervalMs ?? STREAM_INTERVAL_MS.default);
  }

  @Get(':upstream')
  @ApiOperation({ summary: "One upstream pool's counters" })
  @ApiParam({ name: 'upstream', description: 'A configured upstream name.', example: 'openai' })
  @ApiOkResponse({ description: 'Counters read from the pool (abridged example).', example: { generatedAt: '2025-06-01T12:00:00.000Z', ...POOL_EXAMPLE } })
  @ApiNotFoundResponse({ description: 'No upstream of that name.', example: errorEnvelope(404, 'UNKNOWN_UPSTREAM', 'unknown upstream "nope"') })
  one(@Param('upstream') upstream: string) {
    return { generatedAt: new Date().toISOString(), ...this.pools.get(upstream).snapshot() };
  }
}
