import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestExchange } from '../observability/request-exchange';
import '../observability/request-observer'; // FastifyRequest.exchange

/** What a handler hands down with every call it makes for its request (LlmService, search, synthesis). */
export interface CallContext {
  /** Fires when the caller goes away before its response is finished, so the upstream generation stops instead of billing for nobody. */
  signal: AbortSignal;
  /** The request's record: the upstream client counts its attempts there, the spend tracker its tokens and cost. */
  exchange?: RequestExchange;
}

/** The call context of the request being handled: `@CallContext() call: CallContext`. */
export const CallContext = createParamDecorator((_: unknown, ctx: ExecutionContext): CallContext => {
  const http = ctx.switchToHttp();
  const response = http.getResponse<FastifyReply>().raw;
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort(new Error('client closed the connection'));
  });
  return { signal: controller.signal, exchange: http.getRequest<FastifyRequest>().exchange ?? undefined };
});
