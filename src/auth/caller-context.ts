import { currentExchange } from '../observability/request-exchange';

/**
 * Who the current request's spend is booked to (`key-1`, `admin`), or `anonymous` when no key identified it.
 * ApiKeyGuard writes it on the request's exchange, which every handler and all it awaits can reach
 * (currentExchange): no interceptor of our own, so Nest's interceptor chain (an AsyncResource bound per
 * request and interceptor, and an rxjs pipeline) is not on the hot path at all.
 */
export function currentCaller(): string {
  return currentExchange()?.caller ?? 'anonymous';
}
