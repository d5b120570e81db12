import { type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

/**
 * Who may call a route. Every route is `caller` unless it says otherwise, so a
 * new controller is protected by default rather than open by omission.
 *  - public: probes and scrapers (health, metrics): no key, no rate limit
 *  - caller: a key from SERVICE_API_KEYS (or anyone, when none is configured)
 *  - admin:  SERVICE_ADMIN_KEY only
 */
export type RouteAccess = 'public' | 'caller' | 'admin';

export const Access = Reflector.createDecorator<RouteAccess>();

/** Open to probes and scrapers: no API key, no rate limit. */
export const Public = () => Access('public');

/** Only SERVICE_ADMIN_KEY; a caller key is refused with 403. */
export const AdminOnly = () => Access('admin');

export function routeAccess(reflector: Reflector, context: ExecutionContext): RouteAccess {
  return reflector.getAllAndOverride(Access, [context.getHandler(), context.getClass()]) ?? 'caller';
}
