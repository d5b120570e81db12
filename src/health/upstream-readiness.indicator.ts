import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { healthConfig } from '../config/health.config';
import type { UpstreamPool } from '../pool/upstream-pool';

/**
 * An upstream is not ready while its pool is exhausted (queue full, a request
 * waiting for a connection past the threshold, or requests refused for want of
 * one within the recent window), while its circuit is open, or while every API
 * key rests after a 401/403 (ready again as soon as one is due for its probe,
 * so traffic can probe it). Never throws.
 */
@Injectable()
export class UpstreamReadinessIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(healthConfig.KEY) private readonly config: ConfigType<typeof healthConfig>,
  ) {}

  check(pool: UpstreamPool): HealthIndicatorResult {
    const indicator = this.indicators.check(`upstream:${pool.name}`);
    const { readyWindowMs, readyMaxAcquireWaitMs } = this.config;
    const pressure = pool.pressure(readyWindowMs);
    const reasons: string[] = [];
    if (pressure.maxQueue > 0 && pressure.queued >= pressure.maxQueue) reasons.push(`queue full (${pressure.queued} waiting)`);
    if (pressure.oldestWaitMs > readyMaxAcquireWaitMs) {
      reasons.push(`a request has waited ${pressure.oldestWaitMs} ms for a connection (threshold ${readyMaxAcquireWaitMs} ms)`);
    }
    if (pressure.exhaustedInWindow > 0) {
      reasons.push(`${pressure.exhaustedInWindow} requests refused for want of a connection in the last ${readyWindowMs} ms`);
    }
    if (pressure.circuit === 'open') reasons.push('circuit open: the upstream keeps failing');
    const refused = pool.keys.allRefused();
    if (refused) {
      const probeInS = Math.ceil(refused.nextProbeInMs / 1000);
      reasons.push(`all ${refused.total} api keys refused (${refused.statuses.join('/')}); next probe in ${probeInS} s`);
    }
    const { total, usable, refused: refusedKeys, rateLimited } = pool.keys.snapshot();
    const details = { ...pressure, windowMs: readyWindowMs, apiKeys: { total, usable, refused: refusedKeys, rateLimited } };
    return reasons.length > 0 ? indicator.down({ reason: reasons.join('; '), ...details }) : indicator.up(details);
  }
}
