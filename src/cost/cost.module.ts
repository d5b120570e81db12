import { Global, Module } from '@nestjs/common';
import { DatabaseModule } from '../database/database.module';
import { DatabaseService } from '../database/database.service';
import { costConfig, type CostConfig } from './cost.config';
import { EmbeddedSpendStore } from './embedded-spend-store';
import { PostgresSpendStore } from './postgres-spend-store';
import { SPEND_STORE } from './spend-store';
import { SpendTracker } from './spend-tracker';

/** Prices, spend and the budget. Spend lives in PostgreSQL when DATABASE_URL is set (fleet-wide), else in this process and LLM_LEDGER_FILE. */
@Global()
@Module({
  imports: [DatabaseModule],
  providers: [
    {
      provide: SPEND_STORE,
      inject: [costConfig.KEY, DatabaseService],
      useFactory: (config: CostConfig, db: DatabaseService) => (db.enabled ? new PostgresSpendStore(db) : new EmbeddedSpendStore(config.ledgerFile)),
    },
    SpendTracker,
  ],
  exports: [SpendTracker],
})
export class CostModule {}
