/**
 * A TCP proxy that adds network delay between the service and an upstream on
 * loopback, so that handshakes cost what they cost across a real network.
 *
 * Every chunk is forwarded after `oneWayDelayMs`, in both directions, in order
 * (the delay is constant, so delivery times are as monotonic as arrivals).
 * The kernel completes the client's TCP handshake with the proxy at once, so the
 * SYN / SYN-ACK round trip is emulated instead: the first bytes a client sends on
 * a new connection cannot leave before one round trip after it connected, as on
 * a real network where data follows the SYN-ACK. Half-closes and resets are
 * forwarded after the same delay.
 *
 * As a script (`node -r ts-node/register/transpile-only bench/latency-proxy.ts
 * --target 127.0.0.1:8443 --delay 20 [--port 0]`) it prints `listening <port>`
 * and, when started with an IPC channel, sends `{ type: 'ready', port }`.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LatencyProxyOptions {
  targetHost: string;
  targetPort: number;
  /** Added to every chunk in each direction; a round trip costs twice this. */
  oneWayDelayMs: number;
  /** Default 127.0.0.1: the proxy is for loopback benchmarks only. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Charge a new connection's first client bytes one extra round trip (the TCP handshake); default true. */
  emulateTcpHandshake?: boolean;
}

export interface LatencyProxyCounters {
  connections: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
}

/** Above this many bytes waiting in a delay line, the sending side is paused (backpressure). */
const HIGH_WATER_BYTES = 1 << 20;

/** One direction of one connection: chunks wait until their delivery time, then go out in order. */
class DelayLine {
  private readonly queue: { at: number; chunk: Buffer | null }[] = [];
  private timer?: NodeJS.Timeout;
  private queuedBytes = 0;
  private ended = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delayMs: number,
    /** No byte is delivered before this time (performance.now() ms). */
    private readonly notBefore: number,
    private readonly onBytes: (n: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    // The sender's FIN travels like data: after what it sent.
    from.on('end', () => this.push(null));
    to.on('drain', () => {
      if (this.queuedBytes < HIGH_WATER_BYTES) from.resume();
    });
  }

  private push(chunk: Buffer | null): void {
    const now = performance.now();
    const at = Math.max(now, this.notBefore) + this.delayMs;
    // Nothing waiting and nothing to wait for (a zero delay): forward now, as a bare relay would,
    // rather than through a timer that costs at least a millisecond.
    if (at <= now && this.queue.length === 0 && !this.to.destroyed) {
      if (chunk === null) {
        this.ended = true;
        this.to.end();
      } else {
        this.onBytes(chunk.length);
        if (!this.to.write(chunk)) this.from.pause();
      }
      return;
    }
    this.queue.push({ at, chunk });
    if (chunk) {
      this.queuedBytes += chunk.length;
      if (this.queuedBytes >= HIGH_WATER_BYTES) this.from.pause();
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0].at - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    const now = performance.now();
    // setTimeout may fire up to a millisecond early or late; late is unavoidable, early is not allowed.
    while (this.queue.length > 0 && this.queue[0].at <= now + 0.05) {
      const { chunk } = this.queue.shift()!;
      if (this.to.destroyed) {
        this.queue.length = 0;
        return;
      }
      if (chunk === null) {
        this.ended = true;
        this.to.end();
        continue;
      }
      this.queuedBytes -= chunk.length;
      this.onBytes(chunk.length);
      const accepted = this.to.write(chunk);
      if (accepted && this.queuedBytes < HIGH_WATER_BYTES && !this.ended) this.from.resume();
    }
    this.arm();
  }

  /** Runs `action` once everything queued now has been delivered (a reset arrives after the data before it). */
  afterQueued(action: () => void): void {
    const at = Math.max(performance.now(), this.queue.at(-1)?.at ?? 0) + (this.queue.length === 0 ? this.delayMs : 0);
    setTimeout(action, Math.max(0, at - performance.now()) + 1);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

export class LatencyProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly stats: LatencyProxyCounters = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0 };

  constructor(private readonly options: LatencyProxyOptions) {
    if (!(options.oneWayDelayMs >= 0)) throw new RangeError('oneWayDelayMs: expected a non-negative number');
  }

  async start(): Promise<void> {
    // Half-open allowed: a FIN is forwarded (after the delay) like data, not answered at once by Node.
    const server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  counters(): LatencyProxyCounters {
    return { ...this.stats, open: this.sockets.size / 2 };
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    const { oneWayDelayMs: delay, targetHost, targetPort } = this.options;
    const acceptedAt = performance.now();
    this.stats.connections++;
    client.setNoDelay(true);
    const upstream = connect({ host: targetHost, port: targetPort, noDelay: true, allowHalfOpen: true });
    this.sockets.add(client);
    this.sockets.add(upstream);
    // Data from the client follows the SYN-ACK: it can leave one round trip after the connect began.
    const handshake = this.options.emulateTcpHandshake === false ? 0 : 2 * delay;
    const up = new DelayLine(client, upstream, delay, acceptedAt + handshake, (n) => (this.stats.bytesUp += n));
    const down = new DelayLine(upstream, client, delay, 0, (n) => (this.stats.bytesDown += n));

    let closing = false;
    // A reset or an abrupt close on one side reaches the other side after the delay, behind the data already sent.
    const closeBoth = (line: DelayLine, other: Socket, reset: boolean) => {
      if (closing) return;
      closing = true;
      line.afterQueued(() => {
        up.dispose();
        down.dispose();
        if (reset && typeof other.resetAndDestroy === 'function' && !other.destroyed) {
          try {
            other.resetAndDestroy();
          } catch {
            other.destroy();
          }
        } else other.destroy();
      });
    };
    client.on('error', () => closeBoth(up, upstream, true));
    upstream.on('error', () => closeBoth(down, client, true));
    // Both halves closed cleanly (or one side destroyed itself): tear down the other once its queue is out.
    client.on('close', () => {
      this.sockets.delete(client);
      if (!upstream.destroyed) closeBoth(up, upstream, false);
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      if (!client.destroyed) closeBoth(down, client, false);
    });
  }
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const target = argument('target') ?? '';
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const delay = Number(argument('delay') ?? '20');
  if (!host || !Number.isInteger(port) || port <= 0 || !(delay >= 0)) {
    process.stderr.write('usage: latency-proxy.ts --target HOST:PORT [--delay ONE_WAY_MS] [--port LISTEN_PORT]\n');
    process.exit(2);
  }
  const proxy = new LatencyProxy({ targetHost: host, targetPort: port, oneWayDelayMs: delay, port: Number(argument('port') ?? '0') });
  await proxy.start();
  process.stdout.write(`listening ${proxy.port}\n`);
  process.send?.({ type: 'ready', port: proxy.port });
  process.on('message', (message: { id: number; type: string }) => {
    if (message.type === 'counters') process.send?.({ id: message.id, result: proxy.counters() });
  });
  const stop = () => void proxy.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by the bench: go when it goes.
  process.once('disconnect', stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`latency-proxy: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
