import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** The code of the error thrown when one event outgrows its bound. */
export const SSE_EVENT_TOO_LARGE = 'ERR_SSE_EVENT_TOO_LARGE';

/**
 * The server-sent events of a byte stream, as they arrive. Stopping early leaves
 * the stream to the caller: drained, its socket goes back to the pool; destroyed, it closes.
 *
 * `maxEventBytes` bounds what is buffered for one event (a line still waiting for its newline, or the
 * data lines of an event still waiting for its blank line): beyond it the iteration throws an error
 * with code SSE_EVENT_TOO_LARGE. Counted in decoded characters, which never exceed the bytes.
 */
export async function* sseEvents(stream: Readable, maxEventBytes?: number): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = [];
  let overflow = false;
  const parser = createParser({
    onEvent: (event) => pending.push(event),
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') overflow = true;
    },
    maxBufferSize: maxEventBytes,
  });
  const decoder = new TextDecoder();
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    while (pending.length > 0) yield pending.shift()!;
    if (overflow) {
      throw Object.assign(new Error(`an SSE event outgrew ${maxEventBytes} bytes`), { code: SSE_EVENT_TOO_LARGE });
    }
  }
}
