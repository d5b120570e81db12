import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ConnectionCounts {
  connections: number;
  openConnections: number;
  closedConnections: number;
  closedByClient: number;
  closedByServer: number;
  tlsHandshakes: number;
  tlsSessionsResumed: number;
  maxRequestsPerConnection: number;
}

interface Connection {
  raw: Socket;
  /** remote address:port, how the TLSSocket finds its raw socket without private fields. */
  remote: string;
  /** The socket HTTP runs on: the raw socket, or the TLSSocket wrapping it. */
  transport: Socket;
  /** Requests counted on this connection since start/reset (control requests excluded). */
  requests: number;
  /** Requests open on it right now (control requests included: they keep it busy too). */
  active: number;
  /** Who closed first; the first to be recorded wins. */
  closer?: 'client' | 'server';
  idleTimer?: NodeJS.Timeout;
  /** Settles on the raw socket's 'close', once it has been counted. */
  closed: Promise<void>;
}

function zeroCounts(): ConnectionCounts {
  return {
    connections: 0,
    openConnections: 0,
    closedConnections: 0,
    closedByClient: 0,
    closedByServer: 0,
    tlsHandshakes: 0,
    tlsSessionsResumed: 0,
    maxRequestsPerConnection: 0,
  };
}

/**
 * Every TCP connection the simulator accepts, who closed it, and how many
 * requests it carried: the numbers the service's pool statistics are checked
 * against, so they are taken from socket events, never inferred.
 *
 * It also owns the keep-alive timeout. Node's own (server.keepAliveTimeout)
 * adds a hidden 1 s grace and advertises `Keep-Alive: timeout=N`, which makes
 * Node clients drop sockets early (or not reuse them at all below 1 s). Real
 * upstreams such as uvicorn close an idle socket exactly on time and say
 * nothing, which is the behaviour a pool has to survive, so this emulates that.
 */
export class ConnectionLedger {
  private readonly byRaw = new Map<Socket, Connection>();
  private readonly byTransport = new WeakMap<Socket, Connection>();
  private readonly byRemote = new Map<string, Connection>();
  private counts = zeroCounts();

  constructor(private keepAliveTimeoutMs: number) {}

  setKeepAliveTimeout(ms: number): void {
    this.keepAliveTimeoutMs = ms;
  }

  watch(server: HttpServer | HttpsServer, tls: boolean): void {
    // Raw TCP sockets, for https too: a failed handshake is still a connection.
    server.on('connection', (raw: Socket) => this.accepted(raw, tls));
    if (tls) server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
  }

  private accepted(raw: Socket, tls: boolean): void {
    const remote = `${raw.remoteAddress}:${raw.remotePort}`;
    let counted!: () => void;
    const closed = new Promise<void>((resolve) => (counted = resolve));
    const connection: Connection = { raw, remote, transport: raw, requests: 0, active: 0, closed };
    this.byRaw.set(raw, connection);
    this.byTransport.set(raw, connection);
    this.byRemote.set(remote, connection);
    this.counts.connections++;
    this.listenForPeerClose(raw, connection);
    raw.once('close', () => {
      this.closed(connection);
      counted();
    });
    // With TLS the idle clock starts after the handshake, so a slow handshake is not "idle".
    if (!tls) this.armIdleTimer(connection);
  }

  private secured(socket: TLSSocket): void {
    const connection = this.byRemote.get(`${socket.remoteAddress}:${socket.remotePort}`);
    if (socket.isSessionReused()) this.counts.tlsSessionsResumed++;
    else this.counts.tlsHandshakes++;
    if (!connection) return;
    connection.transport = socket;
    this.byTransport.set(socket, connection);
    // Once TLS wraps the socket, the peer's FIN or RST surfaces on the TLSSocket.
    this.listenForPeerClose(socket, connection);
    this.armIdleTimer(connection);
  }

  private listenForPeerClose(socket: Socket, connection: Connection): void {
    // The peer's FIN ('end') or RST (ECONNRESET) decides who closed first by
    // whether we had already ended our side (e.g. Node answering
    // `Connection: close`). Prepended because Node's own 'end' handlers call
    // socket.end() in reply, which would hide the order from a later listener.
    const peerClosed = (): void => {
      connection.closer ??= socket.writableEnded ? 'server' : 'client';
    };
    socket.prependListener('end', peerClosed);
    socket.prependListener('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') peerClosed();
    });
  }

  private closed(connection: Connection): void {
    clearTimeout(connection.idleTimer);
    this.byRaw.delete(connection.raw);
    this.byRemote.delete(connection.remote);
    this.counts.closedConnections++;
    // Anything we did not see the client start (idle timeout, fault reset, stop,
    // Node closing after `Connection: close`) counts as the server's doing.
    if (connection.closer === 'client') this.counts.closedByClient++;
    else this.counts.closedByServer++;
  }

  private armIdleTimer(connection: Connection): void {
    clearTimeout(connection.idleTimer);
    if (this.keepAliveTimeoutMs <= 0 || connection.active > 0) return;
    connection.idleTimer = setTimeout(() => this.close(connection, false), this.keepAliveTimeoutMs);
    connection.idleTimer.unref();
  }

  /** A request started on this socket; `counted` is false for /_sim/* control requests. */
  requestStarted(socket: Socket, counted: boolean): void {
    const connection = this.byTransport.get(socket);
    if (!connection) return;
    clearTimeout(connection.idleTimer);
    connection.active++;
    if (!counted) return;
    connection.requests++;
    this.counts.maxRequestsPerConnection = Math.max(this.counts.maxRequestsPerConnection, connection.requests);
  }

  /** The LLM requests this connection has carried so far. */
  requestsOn(socket: Socket): number {
    return this.byTransport.get(socket)?.requests ?? 0;
  }

  /** Its response finished or was abandoned: the socket may now be idle. */
  requestEnded(socket: Socket): void {
    const connection = this.byTransport.get(socket);
    if (!connection) return;
    connection.active = Math.max(0, connection.active - 1);
    if (!connection.transport.destroyed) this.armIdleTimer(connection);
  }

  /** The simulator closes this connection itself; `reset` sends a TCP RST instead of a FIN. */
  closeSocket(socket: Socket, reset: boolean): void {
    const connection = this.byTransport.get(socket);
    if (connection) this.close(connection, reset);
    else socket.destroy();
  }

  private close(connection: Connection, reset: boolean): void {
    connection.closer ??= 'server';
    clearTimeout(connection.idleTimer);
    if (reset) {
      // resetAndDestroy needs the TCP handle, which stays on the raw socket under TLS.
      try {
        connection.raw.resetAndDestroy();
      } catch {
        connection.raw.destroy();
      }
    }
    connection.transport.destroy();
    connection.raw.destroy();
  }

  /** Closes every open connection; settles once each one's close has been counted. */
  async destroyAll(): Promise<void> {
    const open = [...this.byRaw.values()];
    for (const connection of open) this.close(connection, false);
    await Promise.all(open.map((connection) => connection.closed));
  }

  snapshot(): ConnectionCounts {
    return { ...this.counts, openConnections: this.byRaw.size };
  }

  /** Zero the counters; open connections stay open and start counting requests afresh. */
  reset(): void {
    this.counts = zeroCounts();
    for (const connection of this.byRaw.values()) connection.requests = 0;
  }
}
