import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CallContext } from '../common/call-context.decorator';
import { ApiErrorResponses, UPSTREAM_ERRORS } from '../common/openapi';
import { SearchRequestDto } from './dto/search-request.dto';
import { StructuredSearchRequestDto } from './dto/structured-search-request.dto';
import { SearchService } from './search.service';
import type { SearchHit, SearchResult } from './search.types';
import { StructuredOutputService, type StructuredResult } from './structured-output.service';

/** A hit as the API shows it: the snippet, not the whole text (GET /v1/documents/:id has that). */
export type SearchHitView = Omit<SearchHit, 'text'>;

@ApiTags('search')
@ApiErrorResponses(400, 401)
@Controller('v1/search')
export class SearchController {
  constructor(
    private readonly search: SearchService,
    private readonly structured: StructuredOutputService,
  ) {}

  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Search the indexed documents',
    description: 'BM25, or hybrid (BM25 + embeddings, reciprocal rank fusion) with SEARCH_EMBEDDING_MODEL; hits carry a snippet, not the whole text.',
  })
  @ApiBody({
    type: SearchRequestDto,
    examples: {
      query: { summary: 'A query', value: { query: 'Where is the Eiffel Tower?', topK: 5 } },
      filtered: { summary: 'Filtered by metadata', value: { query: 'tower', filter: { lang: 'en' } } },
    },
  })
  @ApiOkResponse({
    example: {
      mode: 'lexical',
      hits: [{ id: 'eiffel', score: 2.31, title: 'Eiffel Tower', snippet: 'The **Eiffel** **Tower** is in Paris.', metadata: { lang: 'en' } }],
    },
  })
  async find(@Body() dto: SearchRequestDto, @CallContext() call: CallContext): Promise<Omit<SearchResult, 'hits'> & { hits: SearchHitView[] }> {
    const result = await this.search.search(dto, call);
    return { ...result, hits: result.hits.map(({ text: _text, ...hit }) => hit) };
  }

  @Post('structured')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Answer from the search hits as JSON valid against a JSON Schema',
    description: 'The model reply is validated against `schema` (default `{answer, citations}`) and retried when it is not valid.',
  })
  @ApiBody({
    type: StructuredSearchRequestDto,
    examples: {
      default: { summary: 'Default schema', value: { query: 'Where is the Eiffel Tower?' } },
      schema: {
        summary: 'Own schema',
        value: {
          query: 'Where is the Eiffel Tower?',
          schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    },
  })
  @ApiOkResponse({
    example: { data: { answer: 'The Eiffel Tower is in Paris. [eiffel]', citations: ['eiffel'] }, hits: [{ id: 'eiffel', score: 2.31 }], mode: 'lexical', model: 'gpt-4o-mini', upstream: 'openai', attempts: 1 },
  })
  @ApiErrorResponses(...UPSTREAM_ERRORS)
  extract(@Body() dto: StructuredSearchRequestDto, @CallContext() call: CallContext): Promise<StructuredResult> {
    return this.structured.extract(dto, call);
  }
}
