import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { splitTokens } from './extractive-answer';
import type { FaultOptions } from './fault-plan';
import { sendJson } from './json-response';
import type { GenerationReply, WireFormat } from './wire-format';

/**
 * Upstreams that misbehave on the wire in ways that cost their client memory or correctness:
 * bodies that are huge or never end, an SSE line that never ends, a redirect dressed as an answer.
 * Every byte is written as fast as the reader takes it and no faster (we wait for 'drain'), from one
 * reused filler string, so a 200 MB answer costs the simulator a few kilobytes.
 */

const FILLER = 'a'.repeat(16 * 1024);
const MARK = '@@SIMULATOR_FILLER@@';
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export function isHostile(fault: FaultOptions): boolean {
  return fault.bodyBytes !== undefined || fault.endlessBody === true || fault.unterminatedSse === true || fault.redirectStatus !== undefined;
}

export async function sendHostileReply(
  response: ServerResponse,
  wire: WireFormat,
  reply: GenerationReply,
  fault: FaultOptions,
  signal: AbortSignal,
): Promise<void> {
  if (fault.redirectStatus !== undefined) return sendRedirect(response, wire, reply, fault.redirectStatus, signal);
  if (fault.unterminatedSse) return sendUnterminatedLine(response, signal);
  const bytes = fault.endlessBody ? Infinity : (fault.bodyBytes ?? 0);
  return reply.request.stream ? streamPadded(response, wire, reply, bytes, signal) : sendPadded(response, wire, reply, bytes, signal);
}

/** Writes and waits for the reader to take it; false once the client has gone. */
async function write(response: ServerResponse, data: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || response.destroyed) return false;
  if (!response.write(data)) await once(response, 'drain', { signal }).catch(() => undefined);
  return !signal.aborted && !response.destroyed;
}

/** `bytes` of filler (Infinity: forever) in reused chunks. */
async function writeFiller(response: ServerResponse, bytes: number, signal: AbortSignal): Promise<boolean> {
  for (let left = bytes; left > 0; left -= FILLER.length) {
    if (!(await write(response, left >= FILLER.length ? FILLER : FILLER.slice(0, left), signal))) return false;
  }
  return true;
}

/** One JSON completion whose text is padded so the whole body is about `bytes` long; Infinity: its text never closes. */
async function sendPadded(response: ServerResponse, wire: WireFormat, reply: GenerationReply, bytes: number, signal: AbortSignal): Promise<void> {
  const [head, tail] = JSON.stringify(wire.completion({ ...reply, answer: { ...reply.answer, text: MARK } })).split(MARK);
  const framing = Buffer.byteLength(head) + Buffer.byteLength(tail);
  const filler = Math.max(0, bytes - framing);
  const length = Number.isFinite(bytes) ? { 'content-length': framing + filler } : {};
  response.writeHead(200, { 'content-type': 'application/json', ...length });
  if ((await write(response, head, signal)) && (await writeFiller(response, filler, signal))) response.end(tail);
}

/** A well-formed stream of content events about `bytes` long in all; Infinity: it never ends. */
async function streamPadded(response: ServerResponse, wire: WireFormat, reply: GenerationReply, bytes: number, signal: AbortSignal): Promise<void> {
  response.writeHead(200, SSE_HEADERS);
  let sent = 0;
  for (const event of wire.streamHead(reply)) {
    if (!(await write(response, event, signal))) return;
    sent += event.length;
  }
  const delta = wire.streamDelta(reply, FILLER);
  for (; sent < bytes; sent += delta.length) {
    if (!(await write(response, delta, signal))) return;
  }
  for (const event of wire.streamTail(reply)) {
    if (!(await write(response, event, signal))) return;
  }
  response.end();
}

/** An SSE stream whose first line never gets its newline, until the client gives up. */
async function sendUnterminatedLine(response: ServerResponse, signal: AbortSignal): Promise<void> {
  response.writeHead(200, SSE_HEADERS);
  if (await write(response, 'data: {"choices":[{"delta":{"content":"', signal)) await writeFiller(response, Infinity, signal);
}

/** A 3xx whose body is the answer the request asked for (whole or streamed), with a Location that leads nowhere. */
async function sendRedirect(response: ServerResponse, wire: WireFormat, reply: GenerationReply, status: number, signal: AbortSignal): Promise<void> {
  const location = { location: '/moved' };
  if (!reply.request.stream) return sendJson(response, status, wire.completion(reply), location);
  response.writeHead(status, { ...SSE_HEADERS, ...location });
  const events = [...wire.streamHead(reply), ...splitTokens(reply.answer.text).map((token) => wire.streamDelta(reply, token)), ...wire.streamTail(reply)];
  for (const event of events) {
    if (!(await write(response, event, signal))) return;
  }
  response.end();
}
