import { Controller, HttpCode, Param, Post } from '@nestjs/common';
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

  /** Zeroes every pool's counters and latency windows, e.g. before a load test. */
  @Post('stats/reset')
  @HttpCode(200)
  resetStats() {
    return this.maintenance.resetStats();
  }
}
