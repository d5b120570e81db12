import { Module } from '@nestjs/common';
import { DocumentsController } from './documents.controller';
import { DocumentIndex } from './index/document-index';
import { SearchController } from './search.controller';
import { SearchEmbedder } from './search-embedder';
import { SearchService } from './search.service';
import { StructuredOutputService } from './structured-output.service';

/**
 * Document indexing, lexical/hybrid search and structured (JSON Schema) answers
 * over the hits. Needs the global LlmModule and ConfigModule (searchConfig loaded).
 * Exports SearchService for features that retrieve before they generate.
 */
@Module({
  controllers: [DocumentsController, SearchController],
  providers: [DocumentIndex, SearchEmbedder, SearchService, StructuredOutputService],
  exports: [SearchService],
})
export class SearchModule {}
