import type { WireFormat } from '../../config/llm.config';
import { AnthropicCodec } from './anthropic.codec';
import { OpenAiCodec } from './openai.codec';
import type { WireCodec } from './wire-codec';

export const CODECS: Record<WireFormat, WireCodec> = {
  openai: new OpenAiCodec(),
  anthropic: new AnthropicCodec(),
};
