import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Registry } from 'prom-client';
import { Public } from '../auth/route-access.decorator';

const EXAMPLE = [
  '# HELP llm_pool_sockets_active Sockets of the pool carrying a request now.',
  '# TYPE llm_pool_sockets_active gauge',
  'llm_pool_sockets_active{upstream="openai"} 3',
  '# HELP llm_pool_sockets_created_total Sockets opened to the upstream (each one a TCP, and for https a TLS, handshake).',
  '# TYPE llm_pool_sockets_created_total counter',
  'llm_pool_sockets_created_total{upstream="openai"} 12',
  '# HELP llm_upstream_time_to_first_token_seconds Streamed calls: time from sending the request to the first body chunk of the answer.',
  '# TYPE llm_upstream_time_to_first_token_seconds histogram',
  'llm_upstream_time_to_first_token_seconds_bucket{le="0.5",upstream="openai"} 1790',
  'llm_upstream_time_to_first_token_seconds_bucket{le="+Inf",upstream="openai"} 1836',
  'llm_upstream_time_to_first_token_seconds_sum{upstream="openai"} 612.4',
  'llm_upstream_time_to_first_token_seconds_count{upstream="openai"} 1836',
].join('\n');

/** The Prometheus scrape target: public like the health probes (no key, no rate limit); nothing in it names a caller or a prompt. */
@ApiTags('metrics')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('content-type', Registry.PROMETHEUS_CONTENT_TYPE)
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics: pools, upstream calls, circuit breakers, spend, and the Node.js process' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'Prometheus text exposition format 0.0.4 (abridged example).',
    content: { 'text/plain': { schema: { type: 'string' }, example: EXAMPLE } },
  })
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}
