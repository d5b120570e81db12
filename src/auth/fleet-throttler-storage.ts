import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import Redis from 'ioredis';
import { redactRedisUrl, redisConfig, type RedisConfig } from './redis.config';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

// Reconnect attempts back off to this; a Redis that comes back is used again within it.
const RECONNECT_MAX_MS = 5_000;

/**
 * Where per-caller request counts live. With REDIS_URL they are shared by every replica
 * (@nest-lab/throttler-storage-redis: one Lua script per check, atomic in Redis), so the limit
 * is per caller across the fleet. Without it, or while Redis is unreachable, counts are kept in
 * this process (@nestjs/throttler's memory storage): the limit is then per pod.
 *
 * Redis down fails open to that per-pod limit, loudly (a warning, stats and readiness details):
 * the rate limit protects capacity, not money (the budget does, and it fails closed), and a
 * replica count × limit is still a bound, where failing closed would stop all chat with Redis.
 * Nothing waits on Redis: commands time out after REDIS_COMMAND_TIMEOUT_MS, and while the
 * connection is not ready no command is queued (enableOfflineQueue: false) — the check goes local at once.
 */
@Injectable()
export class FleetThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly local = new ThrottlerStorageService();
  private readonly redis?: Redis;
  private readonly shared?: ThrottlerStorageRedisService;
  private sharedChecks = 0;
  private localFallbacks = 0;
  private lastError?: string;
  private wasReady = false;
  private warnedDown = false;

  constructor(@Inject(redisConfig.KEY) private readonly config: RedisConfig) {
    if (!config.url) return;
    const where = redactRedisUrl(config.url);
    this.redis = new Redis(config.url, {
      commandTimeout: config.commandTimeoutMs,
      connectTimeout: config.connectTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (attempt) => Math.min(attempt * 200, RECONNECT_MAX_MS),
      connectionName: 'llm-service-rate-limit',
    });
    this.shared = new ThrottlerStorageRedisService(this.redis);
    this.redis.on('ready', () => {
      this.wasReady = true;
      this.warnedDown = false;
      this.logger.log(`rate limit counted in Redis (${where}), shared by every replica`);
    });
    this.redis.on('error', (error: Error) => this.down(`REDIS_URL (${where}) is unreachable: ${error.message}`));
    this.redis.on('close', () => this.wasReady && this.down(`REDIS_URL (${where}) closed the connection`));
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    if (this.shared && this.redis?.status === 'ready') {
      try {
        const record = await this.shared.increment(key, ttl, limit, blockDuration, throttlerName);
        this.sharedChecks++;
        return record;
      } catch (error) {
        this.down(`a rate-limit check in Redis failed: ${(error as Error).message}`);
      }
    }
    if (this.shared) this.localFallbacks++;
    return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
  }

  /** For stats and readiness: where counts are kept now, and how often Redis could not be used. */
  snapshot() {
    if (!this.redis) return { store: 'memory' as const, scope: 'pod' as const };
    const up = this.redis.status === 'ready';
    return {
      store: 'redis' as const,
      // While Redis is down each pod counts alone: the limit is per pod until it is back.
      scope: up ? ('fleet' as const) : ('pod' as const),
      redis: {
        status: up ? ('up' as const) : ('down' as const),
        connection: this.redis.status,
        commandTimeoutMs: this.config.commandTimeoutMs,
        sharedChecks: this.sharedChecks,
        localFallbacks: this.localFallbacks,
        ...(this.lastError && !up ? { lastError: this.lastError } : {}),
      },
    };
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
    this.redis?.disconnect();
  }

  private down(reason: string): void {
    this.lastError = reason;
    if (this.warnedDown) return;
    this.warnedDown = true;
    this.logger.warn(`${reason}; the rate limit falls back to this pod's own count (per pod, not fleet-wide) until Redis is back`);
  }
}
