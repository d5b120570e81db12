import { DynamicModule, Module } from '@nestjs/common';
import type { SecurityConfig } from '../config/security.config';
import { PoolAdminController } from './pool-admin.controller';
import { PoolMaintenanceService } from './pool-maintenance.service';

/**
 * The admin routes exist only when an admin key is configured: without one they
 * are unknown routes (404), not routes that refuse, so nothing hints they exist.
 */
@Module({})
export class AdminModule {
  static register(security: Pick<SecurityConfig, 'adminKeyDigest'>): DynamicModule {
    if (!security.adminKeyDigest) return { module: AdminModule };
    return { module: AdminModule, controllers: [PoolAdminController], providers: [PoolMaintenanceService] };
  }
}
