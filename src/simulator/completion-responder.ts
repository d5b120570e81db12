import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pause } from './abortable-pause';
import { splitTokens } from './extractive-answer';
import { sendJson, type ContentEncoding } from './json-response';
import type { GenerationReply, WireFormat } from './wire-format';

export interface ReplyTiming {
  ttftMs: number;
  /** 0 = as fast as the socket takes it. */
  tokensPerSecond: number;
  /** Stall once this many tokens have been sent ... */
  stallAfterTokens?: number;
  /** ... for this long; undefined = until the client gives up. */
  stallMs?: number;
  /** After this many tokens, send this error event and end the stream. */
  streamError?: { afterTokens: number; event: string };
  /** Wait this long between the last event and the end of the body. */
  endDelayMs?: number;
  /** A whole answer is sent compressed with this encoding. */
  contentEncoding?: ContentEncoding;
}

/**
 * Answers after the time a model takes to start (real providers answer headers
 * only once the model has started): whole, or streamed when the request asked.
 */
export async function sendReply(
  response: ServerResponse,
  wire: WireFormat,
  reply: GenerationReply,
  timing: ReplyTiming,
  signal: AbortSignal,
): Promise<void> {
  await pause(timing.ttftMs, signal);
  if (signal.aborted) return;
  if (!reply.request.stream) return sendJson(response, 200, wire.completion(reply), {}, timing.contentEncoding);
  await streamTokens(response, wire, reply, timing, signal);
}

/** Writes one SSE event as its own write; false once the client has gone. */
async function writeEvent(response: ServerResponse, event: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || response.destroyed) return false;
  if (!response.write(event)) {
    // A slow reader must slow the stream down rather than grow our buffers.
    await once(response, 'drain', { signal }).catch(() => undefined);
  }
  return !signal.aborted;
}

/**
 * Streams an answer as server-sent events: headers, the opening events and the
 * first token at once, then one event per token at tokensPerSecond.
 */
async function streamTokens(response: ServerResponse, wire: WireFormat, reply: GenerationReply, timing: ReplyTiming, signal: AbortSignal): Promise<void> {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for (const event of wire.streamHead(reply)) {
    if (!(await writeEvent(response, event, signal))) return;
  }

  const tokens = splitTokens(reply.answer.text);
  const intervalMs = timing.tokensPerSecond > 0 ? 1000 / timing.tokensPerSecond : 0;
  // Paced against a schedule, not per-token sleeps, so timer jitter does not add up.
  let due = performance.now();
  for (let sent = 0; sent <= tokens.length; sent++) {
    if (sent === timing.stallAfterTokens) {
      await pause(timing.stallMs, signal);
      if (signal.aborted) return;
      due = performance.now();
    }
    if (sent === timing.streamError?.afterTokens) {
      await writeEvent(response, timing.streamError.event, signal);
      return void response.end();
    }
    if (sent === tokens.length) break;
    if (sent > 0 && intervalMs > 0) {
      due += intervalMs;
      await pause(due - performance.now(), signal);
    }
    if (!(await writeEvent(response, wire.streamDelta(reply, tokens[sent]), signal))) return;
  }

  for (const event of wire.streamTail(reply)) {
    if (!(await writeEvent(response, event, signal))) return;
  }
  if (timing.endDelayMs) {
    await pause(timing.endDelayMs, signal);
    if (signal.aborted) return;
  }
  response.end();
}
