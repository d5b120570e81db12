import { Controller, Get, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ModelsService } from './models.service';

const EXAMPLE_MODEL = { id: 'openai/gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'openai' };

/** OpenAI's model list: what `client.models.list()` and every model picker ask first. */
@ApiTags('models')
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ApiOperation({
    summary: 'List models (OpenAI wire format)',
    description: "Each configured route (upstream default models, fallbacks) and each upstream's own models, as `upstream/model`.",
  })
  @ApiOkResponse({ example: { object: 'list', data: [EXAMPLE_MODEL] } })
  list() {
    return this.models.list();
  }

  // Model ids hold a slash (`upstream/model`): the wildcard takes the rest of the path, encoded or not.
  @Get('*')
  @ApiOperation({ summary: 'One model (OpenAI wire format)' })
  @ApiOkResponse({ example: EXAMPLE_MODEL })
  @ApiNotFoundResponse({ description: 'No configured route or upstream model has this id.' })
  find(@Param('*') id: string) {
    return this.models.find(decodeURIComponent(id));
  }
}
