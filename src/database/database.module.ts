import { Module } from '@nestjs/common';
import { DatabaseService } from './database.service';

/**
 * The PostgreSQL pool and its migrations (DATABASE_*). Import it where a store needs the
 * database; DatabaseService.enabled is false when DATABASE_URL is unset, and the feature then
 * uses its embedded store. Needs databaseConfig loaded in ConfigModule (AppModule does).
 */
@Module({
  providers: [DatabaseService],
  exports: [DatabaseService],
})
export class DatabaseModule {}
