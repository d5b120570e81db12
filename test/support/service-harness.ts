import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { UpstreamSimulator, type SimulatorOptions } from '../../src/simulator/upstream-simulator';

/** Environment prefixes the service reads; cleared before each boot so tests see only what they set. */
const OWNED_ENV = /^(LLM_|OPENAI_|ANTHROPIC_|SERVICE_|SEARCH_|DATABASE_|REDIS_|PORT$|HOST$)/;

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
}

/**
 * Creates the real application with exactly this environment (the variables it owns cleared first,
 * everything restored once it has read them) and listens on an ephemeral loopback port.
 */
export async function listenWithEnv(
  env: Record<string, string>,
  options: { logger?: false } = {},
): Promise<{ app: NestFastifyApplication; url: string }> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (OWNED_ENV.test(key)) delete process.env[key];
  Object.assign(process.env, env);
  let app: NestFastifyApplication;
  try {
    app = await createApp({ ignoreEnvFile: true, ...options });
    await app.listen(0, '127.0.0.1');
  } finally {
    process.env = saved;
  }
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

/** Boots the real application, logger off, with exactly this environment, listening on an ephemeral loopback port. */
export async function startService(env: Record<string, string>): Promise<RunningService> {
  // Each boot gets its own empty search index unless the test names one; it goes when the service does.
  const ownsSearchDir = env.SEARCH_DATA_DIR === undefined;
  const searchDir = env.SEARCH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'llm-search-'));
  const removeSearchDir = () => {
    if (ownsSearchDir) rmSync(searchDir, { recursive: true, force: true });
  };
  try {
    const { app, url } = await listenWithEnv({ SEARCH_DATA_DIR: searchDir, SEARCH_SAMPLE_CORPUS: 'false', ...env }, { logger: false });
    return {
      app,
      url,
      close: async () => {
        await app.close();
        removeSearchDir();
      },
    };
  } catch (error) {
    removeSearchDir();
    throw error;
  }
}

export interface RouteOptions {
  /** Also route `claude` to the simulator, on its Anthropic wire. */
  anthropic?: boolean;
  /** More upstream names for the simulator's OpenAI wire, after `sim` (and `claude`). */
  aliases?: string[];
}

/** The environment that routes the service to this simulator and nowhere else: `sim` on its OpenAI wire. */
export function routesTo(simulator: UpstreamSimulator, { anthropic = false, aliases = [] }: RouteOptions = {}): Record<string, string> {
  const upstreams = [`sim=${simulator.openAiBaseUrl}`];
  if (anthropic) upstreams.push(`claude=${simulator.anthropicBaseUrl}`);
  for (const name of aliases) upstreams.push(`${name}=${simulator.openAiBaseUrl}`);
  return { LLM_SIMULATOR: 'off', LLM_UPSTREAMS: upstreams.join(','), ...(anthropic ? { LLM_CLAUDE_WIRE: 'anthropic' } : {}) };
}

export interface SimulatedService {
  simulator: UpstreamSimulator;
  service: RunningService;
  /** Closes the service, then the simulator. */
  stop(): Promise<void>;
}

/** Starts a simulator, then the service routed to it (see `routesTo`) with `env` on top. */
export async function startWithSimulator(
  simulatorOptions: SimulatorOptions = {},
  env: Record<string, string> = {},
  routes: RouteOptions = {},
): Promise<SimulatedService> {
  const simulator = new UpstreamSimulator(simulatorOptions);
  await simulator.start();
  let service: RunningService;
  try {
    service = await startService({ ...routesTo(simulator, routes), ...env });
  } catch (error) {
    await simulator.stop();
    throw error;
  }
  return {
    simulator,
    service,
    stop: async () => {
      await service.close();
      await simulator.stop();
    },
  };
}

export interface RequestOptions {
  /** Sent as JSON (with its content type) when given. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body; undefined when it is not JSON. */
  json: any;
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One HTTP exchange, the answer read whole. */
export async function request(method: string, url: string, { body, headers = {}, signal }: RequestOptions = {}): Promise<HttpResult> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: parseJson(text) };
}

/** `request` for an answer that must be JSON, whatever its status: any other body throws. */
export async function requestJson(method: string, url: string, options: RequestOptions = {}): Promise<HttpResult> {
  const result = await request(method, url, options);
  if (result.json === undefined) throw new SyntaxError(`${method} ${url} answered ${result.status} with a body that is not JSON: ${result.text.slice(0, 200)}`);
  return result;
}

export function postJson(url: string, body: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<HttpResult> {
  return request('POST', url, { ...options, body });
}

export function getJson(url: string, options: Omit<RequestOptions, 'body'> = {}): Promise<HttpResult> {
  return requestJson('GET', url, options);
}

/** POSTs a JSON body and hands back the response unread, for streams. */
export function postStream(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
}

export interface SseEvent {
  /** The `event:` name; undefined for an unnamed event. */
  event?: string;
  /** The `data:` lines, joined by newlines. */
  data: string;
  /** performance.now() when the event had arrived whole. */
  at: number;
}

/** Reads server-sent events to the end of the stream, noting when each arrived. */
export async function readSse(response: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7);
      const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
      events.push({ event, data, at: performance.now() });
    }
  }
  return events;
}

export function chat(content: string, extra: Record<string, unknown> = {}) {
  return { messages: [{ role: 'user', content }], ...extra };
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function runConcurrently<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  });
  await Promise.all(workers);
  return results;
}

/** Polls until `check` passes or the time is up; the last failure is rethrown. */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 3_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
