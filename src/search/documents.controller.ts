import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { errorEnvelope } from '../common/error-envelope';
import { ApiErrorResponses } from '../common/openapi';
import { IndexDocumentsDto } from './dto/index-documents.dto';
import type { IndexResult } from './search.types';
import { SearchService, type DocumentView } from './search.service';

const NOT_FOUND_EXAMPLE = errorEnvelope(404, 'NOT_FOUND', 'document "eiffel" not found');

@ApiTags('search')
@ApiErrorResponses(401)
@Controller('v1/documents')
export class DocumentsController {
  constructor(private readonly search: SearchService) {}

  /** Upserts a batch; answered once it is on disk. */
  @Post()
  @ApiOperation({ summary: 'Index (upsert) a batch of documents', description: 'Answered once the batch is on disk.' })
  @ApiBody({
    type: IndexDocumentsDto,
    examples: {
      batch: {
        summary: 'Two documents',
        value: {
          documents: [
            { id: 'eiffel', title: 'Eiffel Tower', text: 'The Eiffel Tower is in Paris.', metadata: { lang: 'en', url: 'https://example.com/eiffel' } },
            { id: 'banana', text: 'Bananas are yellow.' },
          ],
        },
      },
    },
  })
  @ApiCreatedResponse({ example: { indexed: 2, ids: ['eiffel', 'banana'] } })
  @ApiErrorResponses(400)
  index(@Body() dto: IndexDocumentsDto): Promise<IndexResult> {
    return this.search.indexDocuments(dto.documents);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One indexed document, whole' })
  @ApiParam({ name: 'id', example: 'eiffel' })
  @ApiOkResponse({ example: { id: 'eiffel', title: 'Eiffel Tower', text: 'The Eiffel Tower is in Paris.', metadata: { lang: 'en' }, embedded: false } })
  @ApiNotFoundResponse({ example: NOT_FOUND_EXAMPLE })
  get(@Param('id') id: string): Promise<DocumentView> {
    return this.search.getDocument(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Delete a document from the index' })
  @ApiParam({ name: 'id', example: 'eiffel' })
  @ApiOkResponse({ example: { id: 'eiffel', deleted: true } })
  @ApiNotFoundResponse({ example: NOT_FOUND_EXAMPLE })
  remove(@Param('id') id: string): Promise<{ id: string; deleted: true }> {
    return this.search.deleteDocument(id);
  }
}
