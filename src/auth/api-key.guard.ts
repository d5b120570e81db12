import { CanActivate, ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorEnvelope } from '../common/error-envelope';
import { bearerToken, KeyMatcher } from './key-matcher';
import { routeAccess } from './route-access.decorator';
import './caller'; // FastifyRequest.caller

const REALM = 'Bearer realm="llm-service"';

/**
 * Global guard: a route is open (@Public), needs a caller key (the default), or
 * the admin key (@AdminOnly). A missing and a wrong key get the same 401 body,
 * which never says which keys exist.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: KeyMatcher,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const access = routeAccess(this.reflector, context);
    if (access === 'public') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    // Anthropic's clients (ANTHROPIC_API_KEY) send the key as x-api-key; OpenAI's as a Bearer token.
    const apiKeyHeader = request.headers['x-api-key'];
    const token = bearerToken(request.headers.authorization) ?? (typeof apiKeyHeader === 'string' && apiKeyHeader ? apiKeyHeader : undefined);
    const caller = token === undefined ? undefined : this.keys.match(token);
    if (caller) {
      request.caller = caller;
      // Spend is booked to it: the exchange travels with every call the request makes.
      if (request.exchange) request.exchange.caller = caller.name;
    }

    if (access === 'caller' && !this.keys.callerKeysConfigured) return true;
    if (!caller) {
      // RFC 6750: a presented but unknown token is an invalid_token; both answers carry the challenge.
      http.getResponse<FastifyReply>().header('www-authenticate', token === undefined ? REALM : `${REALM}, error="invalid_token"`);
      throw new UnauthorizedException(errorEnvelope(401, 'UNAUTHORIZED', 'A valid API key is required: Authorization: Bearer <key>'));
    }
    if (access === 'admin' && caller.role !== 'admin') {
      throw new ForbiddenException(errorEnvelope(403, 'FORBIDDEN', 'This route needs the admin key (SERVICE_ADMIN_KEY)'));
    }
    // The admin key may do what a caller key may.
    return true;
  }
}
