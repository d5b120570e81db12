import { Readable } from 'node:stream';
import { errorEnvelope } from '../common/error-envelope';
import { LlmException } from '../common/llm.exception';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Tell nginx-style proxies not to buffer: tokens must reach the caller as they arrive.
  'x-accel-buffering': 'no',
};

/**
 * Server-sent events from an async sequence, written as each item arrives.
 * An error after the first byte can no longer change the status, so it becomes an error event.
 */
export function sseResponse<T>(items: AsyncIterable<T>, options: { done?: string } = {}): Readable {
  async function* events(): AsyncGenerator<string> {
    try {
      for await (const item of items) yield `data: ${JSON.stringify(item)}\n\n`;
      if (options.done) yield `data: ${options.done}\n\n`;
    } catch (error) {
      const envelope =
        error instanceof LlmException
          ? errorEnvelope(error.status, error.code, error.message, { upstream: error.options.upstream })
          : errorEnvelope(500, 'INTERNAL_ERROR', 'stream failed');
      yield `event: error\ndata: ${JSON.stringify(envelope)}\n\n`;
    }
  }
  return Readable.from(events(), { objectMode: false });
}
