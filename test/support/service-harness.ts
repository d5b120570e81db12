import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';

/** Environment prefixes the service reads; cleared before each boot so tests see only what they set. */
const OWNED_ENV = /^(LLM_|OPENAI_|ANTHROPIC_|SERVICE_|SEARCH_|PORT$|HOST$)/;

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
}

/** Boots the real application with exactly this environment, listening on an ephemeral loopback port. */
export async function startService(env: Record<string, string>): Promise<RunningService> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (OWNED_ENV.test(key)) delete process.env[key];
  // Each boot gets its own empty search index unless the test names one.
  Object.assign(process.env, { SEARCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'llm-search-')), SEARCH_SAMPLE_CORPUS: 'false' }, env);
  let app: NestFastifyApplication;
  try {
    app = await createApp({ ignoreEnvFile: true, logger: false });
    await app.listen(0, '127.0.0.1');
  } finally {
    process.env = saved;
  }
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export async function postJson(url: string, body: unknown, init: RequestInit = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

export async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, headers: response.headers, json: (await response.json()) as any };
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
