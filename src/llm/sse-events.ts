import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/**
 * The server-sent events of a byte stream, as they arrive. Stopping early leaves
 * the stream to the caller: drained, its socket goes back to the pool; destroyed, it closes.
 */
export async function* sseEvents(stream: Readable): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event) });
  const decoder = new TextDecoder();
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    while (pending.length > 0) yield pending.shift()!;
  }
}
