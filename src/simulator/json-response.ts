import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Sends a complete JSON response with an exact Content-Length (keep-alive friendly). */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (response.headersSent || response.destroyed) return;
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': payload.length,
  });
  response.end(payload);
}
