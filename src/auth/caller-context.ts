import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import './caller'; // FastifyRequest.caller

const callers = new AsyncLocalStorage<string>();

/** Who the current request's spend is booked to (`key-1`, `admin`), or `anonymous` when no key identified it. */
export function currentCaller(): string {
  return callers.getStore() ?? 'anonymous';
}

/**
 * Runs each handler with its caller in an AsyncLocalStorage, so LlmService can book spend per
 * caller without every controller and service in between passing it along. Guards have run by
 * now (ApiKeyGuard set request.caller). Nest binds next.handle() to the async context it is
 * called in, so the handler and everything it awaits see the store.
 */
@Injectable()
export class CallerContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const caller = context.switchToHttp().getRequest<FastifyRequest>().caller;
    return callers.run(caller?.name ?? 'anonymous', () => next.handle());
  }
}
