import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; value: unknown } | { ok: false; status: 400 | 413; message: string };

/**
 * Reads and parses a JSON request body, refusing anything over `limitBytes`
 * as soon as it is known to be too big rather than buffering it first.
 * An empty body parses as undefined; the caller decides whether that is fine.
 */
export function readJsonBody(request: IncomingMessage, limitBytes: number): Promise<BodyResult> {
  const tooLarge: BodyResult = { ok: false, status: 413, message: `Request body exceeds ${limitBytes} bytes` };
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.resolve(tooLarge);

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        // Stop keeping it; Node discards the rest once the response is sent.
        request.off('data', onData);
        request.resume();
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('error', reject);
    // The client went away mid-body; after 'end' this is a no-op.
    request.once('close', () => reject(new Error('request closed before its body was read')));
    request.once('end', () => {
      if (size > limitBytes) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim().length === 0) return resolve({ ok: true, value: undefined });
      try {
        resolve({ ok: true, value: JSON.parse(text) as unknown });
      } catch (error) {
        resolve({ ok: false, status: 400, message: `Invalid JSON body: ${(error as Error).message}` });
      }
    });
  });
}
