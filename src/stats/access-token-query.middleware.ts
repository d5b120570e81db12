import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, type NestMiddleware } from '@nestjs/common';

/**
 * A browser's EventSource cannot send an Authorization header, so the stats
 * stream (and only it, see StatsModule) also takes the key as `?access_token=`
 * (RFC 6750 §2.3). It is turned into the header before the guards run, so the
 * one ApiKeyGuard and the per-caller rate limit apply unchanged.
 */
@Injectable()
export class AccessTokenQueryMiddleware implements NestMiddleware {
  use(request: IncomingMessage, _response: ServerResponse, next: () => void): void {
    if (request.headers.authorization === undefined) {
      const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('access_token');
      if (token) request.headers.authorization = `Bearer ${token}`;
    }
    next();
  }
}
