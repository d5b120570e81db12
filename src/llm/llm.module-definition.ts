import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { LlmConfig } from '../config/llm.config';

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN: LLM_OPTIONS, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<LlmConfig>().setClassMethodName('forRoot').setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  })).build();
