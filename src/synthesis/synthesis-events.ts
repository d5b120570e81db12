import { Logger } from '@nestjs/common';
import { Readable } from 'node:stream';
import { errorEnvelope } from '../common/error-envelope';
import { LlmException } from '../common/llm.exception';
import type { SynthesisEvent } from './synthesis.service';

const logger = new Logger('Synthesis');

/**
 * Named server-sent events (`event: delta|done`), written as each arrives. An error
 * after the first byte can no longer change the status, so it becomes `event: error` with the envelope.
 */
export function synthesisEventStream(events: AsyncIterable<SynthesisEvent>): Readable {
  async function* frames(): AsyncGenerator<string> {
    try {
      for await (const { event, data } of events) yield frame(event, data);
    } catch (error) {
      if (error instanceof LlmException) {
        const { upstream, details } = error.options;
        yield frame('error', errorEnvelope(error.status, error.code, error.message, { upstream, details }));
      } else {
        logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
        yield frame('error', errorEnvelope(500, 'INTERNAL_ERROR', 'the synthesis stream failed'));
      }
    }
  }
  return Readable.from(frames(), { objectMode: false });
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
