import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorEnvelope } from './error-envelope';

/**
 * Errors Node raises before a request reaches Fastify's router (too slow, headers too large,
 * unparsable HTTP) answered with the same JSON envelope as every other error, then the socket closed.
 */
export function clientErrorHandler(requestTimeoutMs: number) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    // Reset by the peer: nobody is left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', `the request was not received whole within ${requestTimeoutMs} ms (SERVICE_REQUEST_TIMEOUT_MS)`]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'HEADERS_TOO_LARGE', 'the request headers are too large']
          : [400, 'BAD_REQUEST', 'the request is not valid HTTP'];
    // As Node does: never write into a response that has already started on this socket.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(errorEnvelope(status, code, message));
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
