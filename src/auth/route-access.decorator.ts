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

// Decorators are fixed once the app is built: each route's access is read from its metadata once, not per request
// (two global guards ask on every request; the reflector's lookups were a measurable share of the hot path).
const accessByHandler = new WeakMap<object, Map<object, RouteAccess>>();

export function routeAccess(reflector: Reflector, context: ExecutionContext): RouteAccess {
  const handler = context.getHandler();
  const controller = context.getClass();
  let byController = accessByHandler.get(handler);
  let access = byController?.get(controller);
  if (access === undefined) {
    access = reflector.getAllAndOverride(Access, [handler, controller]) ?? 'caller';
    if (!byController) accessByHandler.set(handler, (byController = new Map()));
    byController.set(controller, access);
  }
  return access;
}
