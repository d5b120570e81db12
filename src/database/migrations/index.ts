/**
 * Every schema change, in order. Add a change as a new entry with the next version;
 * never edit one that has shipped (its checksum is recorded and a change is reported at boot).
 * Changes that depend on the server (e.g. the pgvector extension) are setup steps instead
 * (DatabaseService.addSetupStep), re-run at every boot, because a versioned migration runs once.
 */
import type { Migration } from '../migrator';
import { documentsMigration } from './001-documents';
import { spendLedgerMigration } from './002-spend-ledger';

export const MIGRATIONS: readonly Migration[] = [documentsMigration, spendLedgerMigration];
