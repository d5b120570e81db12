import { Module } from '@nestjs/common';
import { DatabaseModule } from '../database/database.module';
import { DatabaseService } from '../database/database.service';
import { DocumentsController } from './documents.controller';
import { DocumentIndex } from './index/document-index';
import { SearchController } from './search.controller';
import { searchConfig, type SearchConfig } from './search.config';
import { SearchEmbedder } from './search-embedder';
import { SearchService } from './search.service';
import { DOCUMENT_STORE, type DocumentStore } from './store/document-store';
import { PgDocumentStore } from './store/pg-document-store';
import { StructuredOutputService } from './structured-output.service';

/**
 * Document indexing, lexical/hybrid search and structured (JSON Schema) answers
 * over the hits. Needs the global LlmModule and ConfigModule (searchConfig, databaseConfig loaded).
 * Exports SearchService for features that retrieve before they generate.
 *
 * The store is chosen at boot: PostgreSQL (PgDocumentStore, shared by a fleet) when
 * DATABASE_URL is set, else the embedded single-process DocumentIndex under SEARCH_DATA_DIR.
 * The one not chosen is never built (null), so it neither loads a file nor touches the database.
 */
@Module({
  imports: [DatabaseModule],
  controllers: [DocumentsController, SearchController],
  providers: [
    {
      provide: DocumentIndex,
      inject: [searchConfig.KEY, DatabaseService],
      useFactory: (config: SearchConfig, database: DatabaseService) => (database.enabled ? null : new DocumentIndex(config)),
    },
    {
      provide: PgDocumentStore,
      inject: [searchConfig.KEY, DatabaseService],
      useFactory: (config: SearchConfig, database: DatabaseService) => (database.enabled ? new PgDocumentStore(database, config) : null),
    },
    {
      provide: DOCUMENT_STORE,
      inject: [DocumentIndex, PgDocumentStore],
      useFactory: (embedded: DocumentIndex | null, postgres: PgDocumentStore | null): DocumentStore => postgres ?? embedded!,
    },
    SearchEmbedder,
    SearchService,
    StructuredOutputService,
  ],
  exports: [SearchService],
})
export class SearchModule {}
