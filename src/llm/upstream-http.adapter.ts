import * as http from 'node:http';
import * as https from 'node:https';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import axios, { AxiosError, AxiosHeaders, CanceledError, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { RESPONSE_TOO_LARGE } from './upstream-errors';

/**
 * The axios adapter of the pooled call: one `http(s).request` on the pool's agentkeepalive agent.
 *
 * axios still merges the config, runs interceptors and the request/response transforms (JSON in and out);
 * only the transport is ours. axios' own node adapter spends about a quarter of the service's CPU per
 * proxied request (scenario 3 of `npm run bench`) on what a pooled call to an LLM API never needs:
 * proxy resolution (`proxy: false` still wraps the agent), redirects, upload/download progress and rate
 * limits, form data, HTTP/2 sessions, a per-request EventEmitter. What the service relies on is kept, and
 * tested over real sockets (upstream-http.adapter.spec.ts):
 * - `signal`: aborting fails the call with axios' CanceledError and destroys the request (and a streamed body);
 * - errors are AxiosErrors carrying the ClientRequest as `request` (`request.reusedSocket` tells a stale
 *   pooled socket) and, once headers arrived, the `response`;
 * - gzip / deflate / br bodies are decompressed (the bound below counts decompressed bytes);
 * - request headers merged case-insensitively and response headers as AxiosHeaders;
 * - `responseType: 'stream'` (the response body, to be destroyed to end the call) and text for axios' JSON transform;
 * - `validateStatus` exactly as axios' settle applies it;
 * - `maxContentLength`: a body read whole that outgrows it fails with RESPONSE_TOO_LARGE and its socket
 *   is destroyed (a streamed body is bounded the same way when the option is set; the service's streams
 *   are counted by UpstreamBodyTap instead, which also runs their idle timer).
 *
 * Not supported (refused with ERR_NOT_SUPPORT rather than ignored): params, auth, socketPath, a proxy, redirects.
 */
export const upstreamHttpAdapter: AxiosAdapter = (config) =>
  new Promise<AxiosResponse>((resolve, reject) => {
    const unsupported = unsupportedOption(config);
    if (unsupported) return reject(new AxiosError(`the pooled adapter does not support ${unsupported}`, AxiosError.ERR_NOT_SUPPORT, config));

    let url: ParsedUrl;
    let body: string | Buffer | Readable | undefined;
    try {
      url = parsedUrl(fullPath(config));
      body = requestBody(config.data);
    } catch (error) {
      return reject(AxiosError.from(error, AxiosError.ERR_BAD_REQUEST, config));
    }
    const tls = url.protocol === 'https:';
    if (!tls && url.protocol !== 'http:') return reject(new AxiosError(`Unsupported protocol ${url.protocol}`, AxiosError.ERR_BAD_REQUEST, config));

    const method = (config.method ?? 'get').toUpperCase();
    const headers = nodeHeaders(config.headers, body);

    let settled = false;
    let responseStream: Readable | undefined;
    const signal = config.signal as AbortSignal | undefined;
    const detach = () => signal?.removeEventListener('abort', onAbort);
    const fail = (error: AxiosError) => {
      if (settled) return;
      settled = true;
      detach();
      reject(error);
    };
    const succeed = (response: AxiosResponse) => {
      if (settled) return;
      settled = true;
      // A whole body is done; a streamed one keeps listening to the signal until it closes.
      if (config.responseType !== 'stream') detach();
      const validate = config.validateStatus;
      if (!response.status || !validate || validate(response.status)) return resolve(response);
      const code = [AxiosError.ERR_BAD_REQUEST, AxiosError.ERR_BAD_RESPONSE][Math.floor(response.status / 100) - 4];
      reject(new AxiosError(`Request failed with status code ${response.status}`, code, config, req, response));
    };
    function onAbort() {
      const error = new CanceledError(undefined, config, req);
      fail(error);
      // Like axios: the reader of a streamed body hears why it ended, if it listens.
      if (responseStream && !responseStream.destroyed) responseStream.destroy(responseStream.listenerCount('error') > 0 ? error : undefined);
      req?.destroy(error);
    }

    let req: http.ClientRequest;
    try {
      req = (tls ? https : http).request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: url.path,
          method,
          headers,
          agent: (tls ? config.httpsAgent : config.httpAgent) as http.Agent | undefined,
          insecureHTTPParser: config.insecureHTTPParser,
        },
        (res) => {
          if (req.destroyed) return;
          onResponse(config, req, res, method, {
            stream: (stream) => {
              responseStream = stream;
              stream.once('close', detach);
            },
            succeed,
            fail,
          });
        },
      );
    } catch (error) {
      // Node refuses a bad header value (CR/LF) synchronously.
      return fail(AxiosError.from(error, AxiosError.ERR_BAD_REQUEST, config));
    }
    req.on('error', (error) => fail(AxiosError.from(error, undefined, config, req)));
    if (config.timeout) {
      // The service passes 0 (deadlines are AbortSignals) and the agent's own `timeout` stays the active
      // socket's backstop; a caller that sets one gets axios' inactivity timeout.
      const ms = config.timeout;
      req.setTimeout(ms, () => {
        const code = config.transitional?.clarifyTimeoutError ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED;
        fail(new AxiosError(config.timeoutErrorMessage ?? `timeout of ${ms}ms exceeded`, code, config, req));
        req.destroy();
      });
    }
    if (signal) {
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
    if (body instanceof Readable) {
      body.once('error', (error) => req.destroy(error));
      body.pipe(req);
    } else if (typeof body === 'string') req.end(body, 'utf8');
    else req.end(body);
  });

interface ResponseSink {
  stream(stream: Readable): void;
  succeed(response: AxiosResponse): void;
  fail(error: AxiosError): void;
}

function onResponse(config: InternalAxiosRequestConfig, req: http.ClientRequest, res: http.IncomingMessage, method: string, sink: ResponseSink): void {
  let stream: Readable = res;
  const encoding = res.headers['content-encoding'];
  if (config.decompress !== false && encoding) {
    if (method === 'HEAD' || res.statusCode === 204) delete res.headers['content-encoding'];
    const decoder = decompressor(encoding.toLowerCase());
    if (decoder && res.headers['content-encoding']) {
      delete res.headers['content-encoding'];
      stream = pipeline([res, ...decoder], () => undefined) as unknown as Readable;
    }
  }
  const response: AxiosResponse = {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? '',
    headers: new AxiosHeaders(res.headers as Record<string, string>),
    config,
    request: req,
    data: undefined,
  };
  const limit = config.maxContentLength ?? -1;
  const tooLarge = () => new AxiosError(`the response outgrew ${limit} bytes (maxContentLength)`, RESPONSE_TOO_LARGE, config, req, response);

  if (config.responseType === 'stream') {
    if (limit > -1) stream = pipeline(stream, new ByteLimit(limit, tooLarge), () => undefined);
    sink.stream(stream);
    response.data = stream;
    return sink.succeed(response);
  }

  sink.stream(stream);
  const chunks: Buffer[] = [];
  let total = 0;
  let failed = false;
  stream.on('data', (chunk: Buffer) => {
    if (failed) return;
    total += chunk.length;
    if (limit > -1 && total > limit) {
      // Not one byte more: the socket goes (the rest of the body is never read), the call fails as too large.
      failed = true;
      sink.fail(tooLarge());
      stream.destroy();
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  // As axios: a body cut short by the connection is a bad response, said before the reset's own error.
  res.once('aborted', () => {
    if (failed) return;
    failed = true;
    const error = new AxiosError('stream has been aborted', AxiosError.ERR_BAD_RESPONSE, config, req, response);
    sink.fail(error);
    stream.destroy(error);
  });
  stream.on('error', (error) => {
    if (failed) return;
    failed = true;
    sink.fail(AxiosError.from(error, undefined, config, req, response));
  });
  stream.once('end', () => {
    if (failed) return;
    const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
    if (config.responseType === 'arraybuffer') response.data = whole;
    else {
      const text = whole.toString((config.responseEncoding as BufferEncoding | undefined) ?? 'utf8');
      response.data = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    }
    sink.succeed(response);
  });
}

const USER_AGENT = `axios/${axios.VERSION}`;
const ACCEPT_ENCODING = 'gzip, compress, deflate, br';
// Like axios: a body cut short still yields what was decompressed so far instead of a zlib error.
const ZLIB_OPTIONS = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI_OPTIONS = { flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH };

function decompressor(encoding: string): Transform[] | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
    case 'compress':
    case 'x-compress':
      return [zlib.createUnzip(ZLIB_OPTIONS)];
    case 'deflate':
      return [new DeflateHeader(), zlib.createUnzip(ZLIB_OPTIONS)];
    case 'br':
      return [zlib.createBrotliDecompress(BROTLI_OPTIONS)];
    default:
      return undefined;
  }
}

/** `Content-Encoding: deflate` is zlib-wrapped by the RFC and raw by many servers: give a raw stream the zlib header. */
class DeflateHeader extends Transform {
  private first = true;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      // A zlib stream starts with CMF: compression method 8 in its low nibble.
      if ((chunk[0] & 0x0f) !== 8) this.push(Buffer.from([0x78, 0x9c]));
    }
    callback(null, chunk);
  }
}

/** A streamed body bounded in bytes (decompressed): past the bound it fails, and the pipe destroys the socket. */
class ByteLimit extends Transform {
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly error: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return callback(this.error());
    callback(null, chunk);
  }
}

interface ParsedUrl {
  protocol: string;
  hostname: string;
  port: string;
  path: string;
}

// The pools call a handful of URLs (base URL + a few paths) again and again: each is parsed once.
const parsedUrls = new Map<string, ParsedUrl>();
const MAX_PARSED_URLS = 256;

function parsedUrl(href: string): ParsedUrl {
  let parsed = parsedUrls.get(href);
  if (parsed) return parsed;
  const url = new URL(href);
  parsed = { protocol: url.protocol, hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname, port: url.port, path: url.pathname + url.search };
  if (parsedUrls.size >= MAX_PARSED_URLS) parsedUrls.clear();
  parsedUrls.set(href, parsed);
  return parsed;
}

/**
 * The request's headers for node:http, as axios' own adapter sends them: the merged AxiosHeaders (one
 * entry per name whatever its case; null and false left out), then User-Agent,
 * Accept-Encoding and Content-Length unless set. One pass, no AxiosHeaders copy per request.
 */
function nodeHeaders(merged: InternalAxiosRequestConfig['headers'], body: string | Buffer | Readable | undefined): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  let userAgent = false;
  let acceptEncoding = false;
  let contentLength = false;
  const source = AxiosHeaders.from(merged) as unknown as Record<string, unknown>;
  for (const name of Object.keys(source)) {
    const value = source[name];
    if (value === null || value === undefined || value === false) continue;
    out[name] = Array.isArray(value) ? value.map(String) : String(value);
    const lower = name.toLowerCase();
    if (lower === 'user-agent') userAgent = true;
    else if (lower === 'accept-encoding') acceptEncoding = true;
    else if (lower === 'content-length') contentLength = true;
  }
  if (!userAgent) out['User-Agent'] = USER_AGENT;
  if (!acceptEncoding) out['Accept-Encoding'] = ACCEPT_ENCODING;
  if (!contentLength) {
    if (typeof body === 'string') out['Content-Length'] = String(Buffer.byteLength(body));
    else if (Buffer.isBuffer(body)) out['Content-Length'] = String(body.length);
  }
  return out;
}

function fullPath(config: InternalAxiosRequestConfig): string {
  const url = config.url ?? '';
  if (!config.baseURL || /^([a-z][a-z\d+\-.]*:)?\/\//i.test(url)) return url;
  return url ? `${config.baseURL.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}` : config.baseURL;
}

function requestBody(data: unknown): string | Buffer | Readable | undefined {
  if (data === undefined || data === null || data === '') return undefined;
  // Kept a string (axios' JSON transform makes one): Node then sends headers and body in one write, not a writev of two.
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Readable) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('Data after transformation must be a string, an ArrayBuffer, a Buffer, or a Stream');
}

function unsupportedOption(config: InternalAxiosRequestConfig): string | undefined {
  if (config.params) return 'params';
  if (config.auth) return 'auth';
  if (config.socketPath) return 'socketPath';
  if (config.proxy) return 'a proxy';
  if (config.maxRedirects) return 'redirects (maxRedirects must be 0)';
  return undefined;
}
