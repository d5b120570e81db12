import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { RequestExchange } from '../observability/request-exchange';
import type { AttemptTimers } from './attempt-timers';
import { abandonSseResponse } from './sse-response';
import { RESPONSE_TOO_LARGE } from './upstream-errors';

/**
 * Sits between an upstream's streamed body and our reader and sees each chunk as it arrives
 * (a tap in the pipe, so the body is not put in flowing mode ahead of its reader, which would lose chunks):
 * - every chunk restarts the idle timer;
 * - while our reader is not taking chunks (its buffer is full), the idle timer is paused: backpressure
 *   from our caller is not upstream silence, and must not be blamed on the upstream;
 * - the bytes are counted: past `maxBytes` the tap fails with RESPONSE_TOO_LARGE, which the pipe
 *   passes on to the upstream body (its socket is destroyed) and to our reader;
 * - when the call ends because our caller stopped reading until its deadline, the caller's SSE response is
 *   abandoned too (see `abandonSseResponse`): nothing from this side could reach it any more.
 */
export class UpstreamBodyTap extends Transform {
  private bytes = 0;
  private first = true;

  constructor(
    private readonly timers: AttemptTimers,
    private readonly maxBytes: number,
    private readonly onFirstChunk: () => void,
    /** The request the body answers: its SSE response is the one to abandon. */
    private readonly exchange?: RequestExchange,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.timers.touch();
    if (this.first) {
      this.first = false;
      this.onFirstChunk();
    }
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(Object.assign(new Error(`the response outgrew ${this.maxBytes} bytes`), { code: RESPONSE_TOO_LARGE }));
      return;
    }
    callback(null, chunk);
    // The chunk waits in our buffer: until our reader asks for more, the upstream is waiting on us.
    if (this.readableLength >= this.readableHighWaterMark) this.timers.pauseIdle();
  }

  /** Our reader asks for more: from now on, silence is the upstream's again. */
  override _read(size: number): void {
    this.timers.resumeIdle();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timers.reason() === 'caller_stalled') abandonSseResponse(this.exchange);
    super._destroy(error, callback);
  }
}

/**
 * `source` piped into `tap` as stream.pipeline(source, tap) would: an error on either side destroys the other
 * with it, and either one closing early destroys the other with ERR_STREAM_PREMATURE_CLOSE (the caller's reader
 * letting go of the tap ends the upstream request). Without pipeline's per-call AbortController, aborted at the
 * end of every stream with a freshly built DOMException: ~3 % of a stream's CPU in the bench's profile.
 */
export function pipeInto(source: Readable, tap: Transform): void {
  const prematureClose = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  source.pipe(tap);
  source.once('error', (error) => {
    if (!tap.destroyed) tap.destroy(error);
  });
  tap.once('error', (error) => {
    if (!source.destroyed) source.destroy(error);
  });
  source.once('close', () => {
    if (!source.readableEnded && !tap.destroyed) tap.destroy(source.errored ?? prematureClose());
  });
  tap.once('close', () => {
    if (!source.readableEnded && !source.destroyed) source.destroy(prematureClose());
  });
}

// An error answer's message is all we pass on: never hold more of it than this.
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** A streamed error answer (4xx/5xx/3xx), read up to 64 KiB and parsed as JSON when it is; the body is destroyed. */
export async function readErrorBody(stream: Readable): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_ERROR_BODY_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  stream.destroy();
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
