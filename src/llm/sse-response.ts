import { Logger } from '@nestjs/common';
import { Readable } from 'node:stream';
import { errorEnvelope } from '../common/error-envelope';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { redact, redactSecrets } from '../common/redact';
import type { RequestExchange } from '../observability/request-exchange';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Tell nginx-style proxies not to buffer: tokens must reach the caller as they arrive.
  'x-accel-buffering': 'no',
};

export interface SseOptions<T> {
  /** The data of a last event after every item, e.g. OpenAI's `[DONE]`. */
  done?: string;
  /** Named events (`event: delta`): an item's name and data. Without it every item is an unnamed `data:` event. */
  named?: (item: T) => { event: string; data: unknown };
  /** The request's record: an error event quotes its ids and the access log line its error code. */
  exchange?: RequestExchange;
}

const logger = new Logger('Sse');

// SSE responses being written now, in this process: a long stream costs little CPU, so this (not CPU)
// tells the autoscaler a pod is full of streams (llm_open_streams).
let openStreams = 0;

export function openStreamCount(): number {
  return openStreams;
}

// The SSE response each request is writing, for `abandonSseResponse`.
const writing = new WeakMap<RequestExchange, Readable>();

/**
 * Ends this request's SSE response at once, frames not yet written and all (the caller's connection is closed):
 * for a caller that stopped reading until its call's deadline. The call's error event would wait behind the
 * caller's full buffers, and this writer with it (it pulls the next frame only once the caller reads), so the
 * response would hold its connection, and the shutdown drain, for as long as the caller keeps it open.
 */
export function abandonSseResponse(exchange: RequestExchange | undefined): void {
  if (exchange) writing.get(exchange)?.destroy();
}

/**
 * The one SSE writer: server-sent events from an async sequence, written as each item arrives.
 * An error after the first byte can no longer change the status, so it becomes `event: error`
 * with the error envelope. Every frame carries upstream text (chunks are passed on with whatever
 * fields the upstream put in them), so each is scrubbed of the keys this process holds; error
 * messages also of anything shaped like a provider key.
 */
export function sseResponse<T>(items: AsyncIterable<T>, options: SseOptions<T> = {}): Readable {
  const { exchange } = options;
  async function* frames(): AsyncGenerator<string> {
    try {
      let first = true;
      for await (const item of items) {
        const { event, data } = options.named ? options.named(item) : { event: undefined, data: item };
        // A whole event is scrubbed at once, so a key cannot hide across two network chunks.
        yield redactSecrets(frame(event, data));
        if (first) {
          first = false;
          // Node sends a response's writes from one turn of the event loop together. When the upstream's
          // first events arrive in one read, the rest of them, the stream's end, its spend and the [DONE]
          // would all be handled in this turn, and the caller's first token would wait for all of it:
          // one turn's pause sends the headers and the first event on their own.
          await new Promise(setImmediate);
        }
      }
      if (options.done) yield `data: ${options.done}\n\n`;
    } catch (error) {
      const envelope = envelopeOf(error, exchange);
      if (exchange) {
        // The ids to quote: ours, and the upstream's for the answer that failed (its logs, its support).
        envelope.error.request_id = exchange.id;
        envelope.error.upstream_request_id = exchange.upstreamRequestId;
        exchange.error = envelope.error.code;
      }
      yield redact(frame('error', envelope));
    }
  }
  const readable = Readable.from(frames(), { objectMode: false });
  openStreams++;
  if (exchange) writing.set(exchange, readable);
  readable.once('close', () => {
    openStreams--;
    if (exchange && writing.get(exchange) === readable) writing.delete(exchange);
  });
  return readable;
}

/** The error event's envelope; the failure is logged here, once (the caller leaving is no failure: the access log notes it). */
function envelopeOf(error: unknown, exchange: RequestExchange | undefined) {
  const ids = { request_id: exchange?.id, upstream_request_id: exchange?.upstreamRequestId };
  if (error instanceof LlmException) {
    const { upstream, details } = error.options;
    if (error.code !== LlmErrorCode.CLIENT_CLOSED) logger.warn({ event: 'stream_error', upstream: upstream ?? exchange?.upstream, code: error.code, reason: error.message, ...ids });
    return errorEnvelope(error.status, error.code, error.message, { upstream, details });
  }
  logger.error({ event: 'stream_error', upstream: exchange?.upstream, code: 'INTERNAL_ERROR', reason: error instanceof Error ? error.message : String(error), ...ids }, error instanceof Error ? error.stack : undefined);
  return errorEnvelope(500, 'INTERNAL_ERROR', 'the stream failed');
}

function frame(event: string | undefined, data: unknown): string {
  // JSON keeps any newline in the data escaped: one event stays one event.
  return `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}
