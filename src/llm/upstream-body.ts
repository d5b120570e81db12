import { Transform, type TransformCallback } from 'node:stream';
import type { AttemptTimers } from './attempt-timers';
import { RESPONSE_TOO_LARGE } from './upstream-errors';

/**
 * Sits between an upstream's streamed body and our reader and sees each chunk as it arrives
 * (a tap in the pipe, so the body is not put in flowing mode ahead of its reader, which would lose chunks):
 * - every chunk restarts the idle timer;
 * - while our reader is not taking chunks (its buffer is full), the idle timer is paused: backpressure
 *   from our caller is not upstream silence, and must not be blamed on the upstream;
 * - the bytes are counted: past `maxBytes` the tap fails with RESPONSE_TOO_LARGE, which the pipe
 *   passes on to the upstream body (its socket is destroyed) and to our reader.
 */
export class UpstreamBodyTap extends Transform {
  private bytes = 0;
  private first = true;

  constructor(
    private readonly timers: AttemptTimers,
    private readonly maxBytes: number,
    private readonly onFirstChunk: () => void,
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
}
