import { Module } from '@nestjs/common';
import { SearchModule } from '../search/search.module';
import { SynthesisController } from './synthesis.controller';
import { SynthesisService } from './synthesis.service';

/** POST /v1/synthesis. LlmService (LlmModule) and SpendTracker (CostModule) come from global modules. */
@Module({
  imports: [SearchModule],
  controllers: [SynthesisController],
  providers: [SynthesisService],
})
export class SynthesisModule {}
