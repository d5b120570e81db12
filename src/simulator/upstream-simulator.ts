import { STATUS_CODES, createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pause } from './abortable-pause';
import { anthropicWire } from './anthropic-wire';
import { sendReply } from './completion-responder';
import { ConnectionLedger, type ConnectionCounts } from './connection-ledger';
import { composeAnswer, fixedAnswer } from './extractive-answer';
import { FaultPlan, type FaultOptions } from './fault-plan';
import { isHostile, sendHostileReply } from './hostile-reply';
import { MAX_EMBEDDING_DIMENSIONS } from './hashed-embedding';
import { sendJson } from './json-response';
import { embeddingList, openAiWire, parseEmbeddingRequest } from './openai-wire';
import { readJsonBody } from './request-body';
import { generateLocalCertificate, type LocalCertificate } from './self-signed-cert';
import { handleControl } from './simulator-control';
import type { WireFormat } from './wire-format';

export type { FaultOptions } from './fault-plan';

export interface SimulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** HTTPS with a self-signed certificate generated at start (localhost, 127.0.0.1, ::1). */
  tls?: boolean;
  /** Idle keep-alive sockets are closed after this long; default 5000 (Node's and uvicorn's). 0 = never. */
  keepAliveTimeoutMs?: number;
  /** Delay before the first token / before a non-streamed response; default 0. */
  ttftMs?: number;
  /** Streaming pace after the first token; 0 or undefined = as fast as possible. */
  tokensPerSecond?: number;
  /** Extra fixed delay before response headers for every request (embeddings too); default 0. */
  latencyMs?: number;
  /** When set, requests must carry one of them (Bearer for OpenAI paths, x-api-key for Anthropic). */
  apiKeys?: string[];
  /** Default 256. */
  embeddingDimensions?: number;
  /** Answer `Connection: close` on a connection's Nth request and close it, as nginx's `keepalive_requests` does; default unlimited. */
  maxRequestsPerConnection?: number;
}

export type TimingOptions = Required<Pick<SimulatorOptions, 'ttftMs' | 'tokensPerSecond' | 'latencyMs' | 'keepAliveTimeoutMs'>>;

/** What the ledger counted on the sockets, and what the simulator counted on the requests. */
export interface SimulatorCounters extends ConnectionCounts, RequestCounts {
  inFlight: number;
}

interface RequestCounts {
  requests: number;
  requestsByPath: Record<string, number>;
  peakInFlight: number;
  abortedByClient: number;
  faultsInjected: number;
}

interface Route {
  method: 'GET' | 'POST';
  kind: 'generate' | 'embed' | 'models';
  /** Fixed by the path; /v1/models exists in both formats and is told apart by headers. */
  wire?: WireFormat;
}

const ROUTES: Record<string, Route> = {
  '/v1/chat/completions': { method: 'POST', kind: 'generate', wire: openAiWire },
  '/v1/messages': { method: 'POST', kind: 'generate', wire: anthropicWire },
  '/v1/embeddings': { method: 'POST', kind: 'embed', wire: openAiWire },
  '/v1/models': { method: 'GET', kind: 'models' },
};

const BODY_LIMIT_BYTES = 10 * 1024 * 1024;
const MODEL_IDS = ['sim-1', 'sim-embed-1'];
const TIMING_KEYS = ['ttftMs', 'tokensPerSecond', 'latencyMs', 'keepAliveTimeoutMs'] as const;

function zeroRequestCounts(): RequestCounts {
  return { requests: 0, requestsByPath: {}, peakInFlight: 0, abortedByClient: 0, faultsInjected: 0 };
}

function wireFor(route: Route | undefined, headers: IncomingHttpHeaders): WireFormat {
  if (route?.wire) return route.wire;
  return headers['x-api-key'] !== undefined || headers['anthropic-version'] !== undefined ? anthropicWire : openAiWire;
}

function checkTiming(options: Partial<TimingOptions>): void {
  const problems = TIMING_KEYS.filter((key) => {
    const value = options[key];
    return value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0);
  });
  if (problems.length > 0) throw new RangeError(`${problems.join(', ')}: expected a non-negative number`);
}

/** A fault's errorMessage with `{key}` replaced by the key the request carried, as providers echo it ("Incorrect API key provided: ..."). */
function faultMessage(fault: FaultOptions, wire: WireFormat, headers: IncomingHttpHeaders): string | undefined {
  return fault.errorMessage?.replaceAll('{key}', wire.credential(headers) ?? '');
}

function retryHeaders(fault: FaultOptions): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS);
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
  return headers;
}

/**
 * A cheap, deterministic OpenAI- and Anthropic-compatible upstream on a plain
 * Node server, whose counters say exactly what the service did to it:
 * connections opened and who closed them, TLS handshakes, requests per
 * connection, concurrency, aborts. Faults and timing can be changed at run time.
 */
export class UpstreamSimulator {
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly tls: boolean;
  private readonly apiKeys?: ReadonlySet<string>;
  private readonly embeddingDimensions: number;
  private readonly maxRequestsPerConnection?: number;
  private currentTiming: TimingOptions;
  private readonly ledger: ConnectionLedger;
  private readonly faults = new FaultPlan();
  private readonly inFlight = new Set<ServerResponse>();
  // Responses the simulator cut off on purpose; their close is not a client abort.
  private readonly cutByServer = new WeakSet<ServerResponse>();
  private counts = zeroRequestCounts();
  private sequence = 0;
  private requestIdSequence = 0;
  /**
   * The most recent LLM requests (up to 256): the ids and trace context the service sent, and the id the
   * simulator answered with in the wire's header (OpenAI `x-request-id`, Anthropic `request-id`), as providers do.
   */
  readonly received: Array<{ path: string; requestId?: string; traceparent?: string; upstreamRequestId: string }> = [];
  /** The JSON bodies of the most recent LLM requests (up to 64), as they arrived: what a codec really sent. */
  readonly receivedBodies: Array<{ path: string; body: unknown }> = [];
  private boundPort = 0;
  private server?: HttpServer | HttpsServer;
  private certificate?: LocalCertificate;
  private stopping?: Promise<void>;

  constructor(options: SimulatorOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port ?? 0;
    this.tls = options.tls ?? false;
    this.apiKeys = options.apiKeys ? new Set(options.apiKeys) : undefined;
    this.embeddingDimensions = options.embeddingDimensions ?? 256;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.currentTiming = {
      ttftMs: options.ttftMs ?? 0,
      tokensPerSecond: options.tokensPerSecond ?? 0,
      latencyMs: options.latencyMs ?? 0,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5000,
    };
    checkTiming(this.currentTiming);
    if (!Number.isInteger(this.requestedPort) || this.requestedPort < 0 || this.requestedPort > 65535) {
      throw new RangeError(`port: expected an integer 0-65535, got ${options.port}`);
    }
    const dimensions = this.embeddingDimensions;
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_EMBEDDING_DIMENSIONS) {
      throw new RangeError(`embeddingDimensions: expected an integer 1-${MAX_EMBEDDING_DIMENSIONS}, got ${dimensions}`);
    }
    this.ledger = new ConnectionLedger(this.currentTiming.keepAliveTimeoutMs);
  }

  async start(): Promise<void> {
    if (this.server || this.stopping) throw new Error('UpstreamSimulator: start() may be called once');
    if (this.tls) this.certificate = await generateLocalCertificate();
    const onRequest = (request: IncomingMessage, response: ServerResponse): void => this.onRequest(request, response);
    const server = this.certificate
      ? createHttpsServer({ key: this.certificate.key, cert: this.certificate.cert }, onRequest)
      : createHttpServer(onRequest);
    // The ledger closes idle keep-alive sockets itself, exactly on time and
    // without a Keep-Alive header; Node's own timer must not compete with it.
    server.keepAliveTimeout = 0;
    this.ledger.watch(server, this.tls);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
    // Accept errors (EMFILE under a benchmark's load) must not crash the process embedding us.
    server.on('error', (error) => process.emitWarning(`UpstreamSimulator: ${error.message}`));
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    // The server's own 'close' can come before the sockets' 'close' events, so
    // wait for both: after stop() the counters are final.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await this.ledger.destroyAll();
    await closed;
  }

  get port(): number {
    return this.boundPort;
  }

  get origin(): string {
    // A wildcard bind is reachable on loopback; IPv6 literals need brackets in a URL.
    const host = this.host === '0.0.0.0' ? '127.0.0.1' : this.host === '::' ? '::1' : this.host;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return `${this.tls ? 'https' : 'http'}://${hostPart}:${this.boundPort}`;
  }

  get openAiBaseUrl(): string {
    return `${this.origin}/v1`;
  }

  /** Anthropic clients append /v1/messages themselves. */
  get anthropicBaseUrl(): string {
    return this.origin;
  }

  get caPem(): string | undefined {
    return this.certificate?.cert;
  }

  /** The timing in force now (a copy). */
  get timing(): TimingOptions {
    return { ...this.currentTiming };
  }

  counters(): SimulatorCounters {
    const connections = this.ledger.snapshot();
    return {
      connections: connections.connections,
      openConnections: connections.openConnections,
      closedConnections: connections.closedConnections,
      closedByClient: connections.closedByClient,
      closedByServer: connections.closedByServer,
      tlsHandshakes: connections.tlsHandshakes,
      tlsSessionsResumed: connections.tlsSessionsResumed,
      requests: this.counts.requests,
      requestsByPath: { ...this.counts.requestsByPath },
      inFlight: this.inFlight.size,
      peakInFlight: this.counts.peakInFlight,
      abortedByClient: this.counts.abortedByClient,
      faultsInjected: this.counts.faultsInjected,
      maxRequestsPerConnection: connections.maxRequestsPerConnection,
    };
  }

  /** Zero every counter; open connections and requests in flight are live facts and stay. */
  resetCounters(): void {
    this.ledger.reset();
    this.counts = zeroRequestCounts();
    this.counts.peakInFlight = this.inFlight.size;
  }

  setFaults(faults: FaultOptions | null): void {
    this.faults.set(faults);
  }

  /** The faults armed now, `count` being what is left of it. */
  activeFaults(): FaultOptions | null {
    return this.faults.current();
  }

  configure(options: Partial<Pick<SimulatorOptions, 'ttftMs' | 'tokensPerSecond' | 'latencyMs' | 'keepAliveTimeoutMs'>>): void {
    checkTiming(options);
    for (const key of TIMING_KEYS) {
      const value = options[key];
      if (value !== undefined) this.currentTiming[key] = value;
    }
    this.ledger.setKeepAliveTimeout(this.currentTiming.keepAliveTimeoutMs);
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    const path = (request.url ?? '/').split('?')[0];
    // Control requests must not disturb the numbers they are used to read.
    const counted = !path.startsWith('/_sim/');
    const exchange = new AbortController();
    this.ledger.requestStarted(socket, counted);
    if (counted) {
      const upstreamRequestId = `req_sim_${++this.requestIdSequence}`;
      response.setHeader(wireFor(ROUTES[path], request.headers) === anthropicWire ? 'request-id' : 'x-request-id', upstreamRequestId);
      const header = (name: string) => (typeof request.headers[name] === 'string' ? (request.headers[name] as string) : undefined);
      this.received.push({ path, requestId: header('x-request-id'), traceparent: header('traceparent'), upstreamRequestId });
      if (this.received.length > 256) this.received.shift();
      this.counts.requests++;
      this.counts.requestsByPath[path] = (this.counts.requestsByPath[path] ?? 0) + 1;
      // Node's server closes the connection once a response that says so has ended.
      if (this.maxRequestsPerConnection && this.ledger.requestsOn(socket) >= this.maxRequestsPerConnection) response.setHeader('connection', 'close');
      this.inFlight.add(response);
      this.counts.peakInFlight = Math.max(this.counts.peakInFlight, this.inFlight.size);
    }
    // 'close' comes once per response: after 'finish', or when the connection dies first.
    response.once('close', () => {
      exchange.abort();
      this.ledger.requestEnded(socket);
      if (!counted || !this.inFlight.delete(response)) return;
      if (!response.writableFinished && !this.cutByServer.has(response) && !this.stopping) this.counts.abortedByClient++;
    });

    const work = counted ? this.answer(request, response, path, exchange.signal) : handleControl(this, request, response, path);
    work.catch((error: unknown) => {
      if (response.headersSent || response.destroyed) return void response.destroy();
      sendJson(response, 500, openAiWire.errorBody(500, `Simulator failure: ${(error as Error)?.message ?? String(error)}`));
    });
  }

  private authorized(wire: WireFormat, headers: IncomingHttpHeaders): boolean {
    if (!this.apiKeys) return true;
    const key = wire.credential(headers);
    return key !== undefined && this.apiKeys.has(key);
  }

  private async answer(request: IncomingMessage, response: ServerResponse, path: string, signal: AbortSignal): Promise<void> {
    const route = ROUTES[path];
    const wire = wireFor(route, request.headers);
    const timing = this.timing;
    if (!route || request.method !== route.method) {
      await pause(timing.latencyMs, signal);
      if (!route) return sendJson(response, 404, wire.errorBody(404, `Unknown path: ${request.method} ${path}`));
      return sendJson(response, 405, wire.errorBody(405, `${request.method} is not allowed on ${path}`), { allow: route.method });
    }
    if (!this.authorized(wire, request.headers)) {
      await pause(timing.latencyMs, signal);
      return sendJson(response, 401, wire.errorBody(401, 'Invalid API key'));
    }

    // The model list is faulted only by a fault aimed at it (path '/models'), so chat faults leave discovery alone.
    const fault = route.kind === 'models' && !this.faults.current()?.path?.endsWith('/models') ? undefined : this.faults.take(path);
    if (fault) this.counts.faultsInjected++;
    if (fault?.reset) {
      this.cutByServer.add(response);
      this.ledger.closeSocket(request.socket, true);
      return;
    }

    const body = route.method === 'POST' ? await readJsonBody(request, BODY_LIMIT_BYTES) : { ok: true as const, value: undefined };
    if (body.ok && route.method === 'POST') {
      this.receivedBodies.push({ path, body: body.value });
      if (this.receivedBodies.length > 64) this.receivedBodies.shift();
    }
    await pause(timing.latencyMs + (fault?.stallBeforeHeadersMs ?? 0), signal);
    if (signal.aborted) return;
    if (fault?.status !== undefined) {
      const message = faultMessage(fault, wire, request.headers) ?? `Simulated upstream error: ${fault.status} ${STATUS_CODES[fault.status] ?? ''}`.trim();
      const error = wire.errorBody(fault.status, message) as { error: Record<string, unknown> };
      if (fault.errorParam !== undefined) error.error.param = fault.errorParam;
      return sendJson(response, fault.status, error, retryHeaders(fault));
    }
    if (!body.ok) return sendJson(response, body.status, wire.errorBody(body.status, body.message));

    if (route.kind === 'models') return sendJson(response, 200, wire.modelList(MODEL_IDS));
    if (route.kind === 'embed') {
      const parsed = parseEmbeddingRequest(body.value, this.embeddingDimensions);
      if (!parsed.ok) return sendJson(response, 400, wire.errorBody(400, parsed.message));
      return sendJson(response, 200, embeddingList(parsed.value));
    }

    const parsed = wire.parseGeneration(body.value);
    if (!parsed.ok) return sendJson(response, 400, wire.errorBody(400, parsed.message));
    const generation = parsed.value;
    const reply = {
      id: `${wire.idPrefix}${++this.sequence}`,
      created: Math.floor(Date.now() / 1000),
      request: generation,
      answer: fault?.toolCall
        ? // Indented JSON, so a stream sends the arguments in several deltas, as models do.
          fixedAnswer(generation.turns, JSON.stringify(fault.toolCall.arguments, null, 1))
        : fault?.replyText !== undefined
          ? fixedAnswer(generation.turns, fault.replyText)
          : composeAnswer(generation.turns, generation.maxTokens),
      toolCall: fault?.toolCall && { id: `call_sim_${this.sequence}`, name: fault.toolCall.name, input: fault.toolCall.arguments },
      usagePatch: fault?.usage,
    };
    const replyTiming = {
      ttftMs: timing.ttftMs,
      tokensPerSecond: timing.tokensPerSecond,
      stallAfterTokens: fault?.stallAfterTokens,
      stallMs: fault?.stallMs,
      endDelayMs: fault?.streamEndDelayMs,
      contentEncoding: fault?.contentEncoding,
      streamError:
        fault?.streamErrorAfterTokens === undefined
          ? undefined
          : {
              afterTokens: fault.streamErrorAfterTokens,
              event: wire.streamError(faultMessage(fault, wire, request.headers) ?? 'Simulated upstream error: the model is overloaded'),
            },
    };
    if (fault && isHostile(fault)) return sendHostileReply(response, wire, reply, fault, signal);
    await sendReply(response, wire, reply, replyTiming, signal);
  }
}
