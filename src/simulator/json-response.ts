import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

export type ContentEncoding = 'gzip' | 'deflate' | 'deflate-raw' | 'br';

const COMPRESS: Record<ContentEncoding, (data: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, 'deflate-raw': deflateRawSync, br: brotliCompressSync };

/**
 * Sends a complete JSON response with an exact Content-Length (keep-alive friendly), compressed when asked
 * ('deflate-raw' is sent as `Content-Encoding: deflate` without its zlib header, as some servers do).
 */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}, encoding?: ContentEncoding): void {
  if (response.headersSent || response.destroyed) return;
  const json = Buffer.from(JSON.stringify(body));
  const payload = encoding ? COMPRESS[encoding](json) : json;
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    ...(encoding ? { 'content-encoding': encoding === 'deflate-raw' ? 'deflate' : encoding } : {}),
    'content-length': payload.length,
  });
  response.end(payload);
}
