import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpAgent, HttpsAgent } from 'agentkeepalive';
import type { CloseReason, PoolCounters } from './pool-counters';

type KeepAliveAgent = HttpAgent | HttpsAgent;

interface SocketState {
  createdAt: number;
  requests: number;
  reason?: CloseReason;
  /** Idle timeout the server announced with `Keep-Alive: timeout=N`, minus a second of margin. */
  serverIdleMs?: number;
}

export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT_CONNECT';
  constructor(ms: number) {
    super(`connect timed out after ${ms} ms`);
  }
}

/**
 * Instruments an agentkeepalive agent so that every socket it opens is counted
 * and every close carries its reason, decided at the moment the agent decides it.
 * Node's agent also gets the two things it lacks: a connect timeout, and
 * respect for a server's Keep-Alive hint shorter than our idle expiry
 * (agentkeepalive overwrites the socket timeout that Node derives from it).
 */
export interface SocketTracker {
  /** Closes the idle sockets, counted under `reason`; resolves with how many once they are closed. */
  closeIdle(reason: CloseReason): Promise<number>;
}

export function trackSockets(
  agent: KeepAliveAgent,
  counters: PoolCounters,
  opts: { connectTimeoutMs: number; socketTtlMs: number; maxKeepAlive: number; tls: boolean },
): SocketTracker {
  const states = new WeakMap<Socket, SocketState>();
  const isIdle = (socket: Socket) => Object.values(agent.freeSockets).some((list) => list?.includes(socket));
  const exchangeOn = (socket: Socket) =>
    (socket as Socket & { _httpMessage?: ClientRequest & { res?: { destroyed: boolean; complete: boolean } } })._httpMessage;
  // The response arrived whole: a close now (the server's `Connection: close`) cuts nothing short.
  const answered = (socket: Socket) => Boolean(exchangeOn(socket)?.res?.complete);
  // We ended the request (caller gone, deadline): its request or response was destroyed before it was complete.
  // A response read to its end is destroyed too (autoDestroy), and must not pass for an abort.
  const abortedByUs = (socket: Socket) => {
    const req = exchangeOn(socket);
    return Boolean(req && !req.res?.complete && (req.destroyed || req.res?.destroyed));
  };
  const tag = (socket: Socket, reason: CloseReason) => {
    const state = states.get(socket);
    if (state && !state.reason) state.reason = reason;
  };

  const createConnection = agent.createConnection.bind(agent) as (options: object, cb: unknown) => Socket;
  agent.createConnection = ((options: object, oncreate: unknown) => {
    const socket = createConnection(options, oncreate);
    const state: SocketState = { createdAt: Date.now(), requests: 0 };
    states.set(socket, state);
    let connected = false;

    const connectTimer = setTimeout(() => socket.destroy(new ConnectTimeoutError(opts.connectTimeoutMs)), opts.connectTimeoutMs);
    socket.once('close', () => clearTimeout(connectTimer));
    socket.once('connect', () => {
      connected = true;
      counters.socketsCreated++;
      if (!opts.tls) clearTimeout(connectTimer);
    });
    socket.once('secureConnect', () => {
      clearTimeout(connectTimer);
      if ((socket as TLSSocket).isSessionReused()) counters.tlsSessionsResumed++;
      else counters.tlsHandshakes++;
    });

    // Prepended: agentkeepalive's own timeout handler removes the socket from the free list first.
    socket.prependListener('timeout', () => {
      const expiredTtl = opts.socketTtlMs > 0 && Date.now() - state.createdAt >= opts.socketTtlMs - 5;
      tag(socket, isIdle(socket) ? (expiredTtl ? 'ttl' : 'idle_expiry') : 'timeout');
    });
    socket.prependListener('end', () => tag(socket, 'server_closed'));
    socket.prependListener('error', () => tag(socket, isIdle(socket) ? 'server_closed' : abortedByUs(socket) ? 'aborted' : 'error'));
    socket.once('close', () => {
      if (!connected) return; // never reached the upstream: counted as a connect error, not a close
      const busy = Boolean((socket as Socket & { _httpMessage?: unknown })._httpMessage);
      const reason =
        state.reason ??
        (abortedByUs(socket) ? 'aborted' : answered(socket) ? 'server_closed' : busy ? 'error' : opts.maxKeepAlive > 0 ? 'server_closed' : 'keepalive_limit');
      counters.closedByReason[reason]++;
    });
    return socket;
  }) as typeof agent.createConnection;

  // Runs before Node's 'free' handler, which destroys the socket without saying why.
  agent.prependListener('free', (socket: Socket, options: object) => {
    const name = agent.getName(options as never);
    if (!socket.writable) return tag(socket, 'server_closed');
    if (agent.requests[name]?.length) return;
    const req = (socket as Socket & { _httpMessage?: ClientRequest & { shouldKeepAlive?: boolean } })._httpMessage;
    if (!req?.shouldKeepAlive) return tag(socket, 'server_closed');
    if ((agent.freeSockets[name]?.length ?? 0) >= opts.maxKeepAlive) tag(socket, 'keepalive_limit');
  });

  const keepSocketAlive = agent.keepSocketAlive.bind(agent) as unknown as (socket: Socket) => boolean;
  agent.keepSocketAlive = ((socket: Socket) => {
    const state = states.get(socket);
    const hint = (socket as Socket & { _httpMessage?: ClientRequest & { res?: { headers: Record<string, unknown> } } })._httpMessage?.res
      ?.headers['keep-alive'];
    const seconds = typeof hint === 'string' ? /^timeout=(\d+)/.exec(hint)?.[1] : undefined;
    if (state && seconds) state.serverIdleMs = Number(seconds) * 1000 - 1000;
    const keep = keepSocketAlive(socket);
    if (!keep) {
      const ttlExpired = opts.socketTtlMs > 0 && state && Date.now() - state.createdAt >= opts.socketTtlMs;
      tag(socket, ttlExpired ? 'ttl' : 'server_closed');
    }
    return keep;
  }) as unknown as typeof agent.keepSocketAlive;

  // After Node's and agentkeepalive's own 'free' handlers: the socket is idle now and
  // agentkeepalive has just set its idle timeout, which must not outlive the server's.
  agent.on('free', (socket: Socket) => {
    const state = states.get(socket);
    if (state?.serverIdleMs && !socket.destroyed && (socket.timeout ?? 0) > state.serverIdleMs) {
      socket.setTimeout(state.serverIdleMs);
    }
  });

  const addRequest = (agent as unknown as { addRequest: (req: ClientRequest, ...rest: unknown[]) => void }).addRequest.bind(agent);
  (agent as unknown as { addRequest: typeof addRequest }).addRequest = (req: ClientRequest, ...rest: unknown[]) => {
    req.once('socket', (socket: Socket) => {
      const state = states.get(socket);
      if (!state) return;
      state.requests++;
      counters.requests++;
      if (state.requests > 1) counters.reusedRequests++;
    });
    addRequest(req, ...rest);
  };

  const destroy = agent.destroy.bind(agent);
  agent.destroy = () => {
    for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
      for (const socket of list ?? []) tag(socket as Socket, 'shutdown');
    }
    destroy();
  };

  return {
    async closeIdle(reason) {
      const idle = Object.values(agent.freeSockets).flatMap((list) => (list ?? []) as Socket[]).filter((socket) => !socket.destroyed);
      await Promise.all(
        idle.map((socket) => {
          tag(socket, reason);
          const closed = new Promise((resolve) => socket.once('close', resolve));
          socket.destroy();
          return closed;
        }),
      );
      return idle.length;
    },
  };
}
