import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/route-access.decorator';
import { DashboardPage } from './dashboard-page';

/**
 * The live dashboard. The page itself holds no data, so it is public; the numbers
 * come from /v1/llm/stats/stream, which needs a key when SERVICE_API_KEYS is set.
 */
@ApiTags('stats')
@Public()
@Controller('dashboard')
export class DashboardController {
  constructor(private readonly page: DashboardPage) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  // The key typed into the page travels in the stream's URL: keep it out of any Referer.
  @Header('referrer-policy', 'no-referrer')
  @Header('x-content-type-options', 'nosniff')
  @ApiOperation({ summary: 'Live dashboard: per upstream sockets, reuse, latency, circuit and spend, from /v1/llm/stats/stream' })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'One HTML page, script and style inline.', content: { 'text/html': { schema: { type: 'string' }, example: '<!doctype html><html lang="en">…</html>' } } })
  show(@Res({ passthrough: true }) reply: FastifyReply): string {
    reply.header('content-security-policy', this.page.contentSecurityPolicy);
    return this.page.html;
  }
}
