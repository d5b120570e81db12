import { Controller, HttpCode, Param, ParseIntPipe, Post } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AdminOnly } from '../auth/route-access.decorator';
import { PoolMaintenanceService } from './pool-maintenance.service';

/** Operator actions; registered only when SERVICE_ADMIN_KEY is set (see AdminModule). */
@Controller('v1/admin')
@AdminOnly()
// The docs are public; operator routes are documented in the README, not advertised there.
@ApiExcludeController()
export class PoolAdminController {
  constructor(private readonly maintenance: PoolMaintenanceService) {}

  /** Closes the upstream's idle keep-alive sockets (e.g. after a DNS or load-balancer change); busy ones finish. */
  @Post('pools/:upstream/sockets/destroy')
  @HttpCode(200)
  destroySockets(@Param('upstream') upstream: string) {
    return this.maintenance.destroyIdleSockets(upstream);
  }

  /** Puts every API key of the upstream refused (401/403) back in rotation at once, e.g. after fixing them upstream. */
  @Post('pools/:upstream/keys/enable')
  @HttpCode(200)
  enableKeys(@Param('upstream') upstream: string) {
    return this.maintenance.enableKeys(upstream);
  }

  /** The same for one key, by its position in the configured list (1-based), never by value. */
  @Post('pools/:upstream/keys/:position/enable')
  @HttpCode(200)
  enableKey(@Param('upstream') upstream: string, @Param('position', ParseIntPipe) position: number) {
    return this.maintenance.enableKeys(upstream, position);
  }

  /** Zeroes every pool's counters and latency windows, e.g. before a load test. */
  @Post('stats/reset')
  @HttpCode(200)
  resetStats() {
    return this.maintenance.resetStats();
  }
}
