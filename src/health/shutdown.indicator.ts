import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DrainService } from '../lifecycle/drain.service';

/** Not ready from the moment shutdown begins, so the load balancer stops sending work before we stop taking it. */
@Injectable()
export class ShutdownIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly drain: DrainService,
  ) {}

  check(): HealthIndicatorResult {
    const indicator = this.indicators.check('shutdown');
    return this.drain.isDraining
      ? indicator.down({ reason: 'shutting down: finishing in-flight requests', inFlight: this.drain.inFlight })
      : indicator.up();
  }
}
