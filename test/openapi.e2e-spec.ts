import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postJson, startWithSimulator, type RunningService } from './support/service-harness';

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/**
 * `METHOD /path` of every route Fastify serves, read from its route tree
 * (`printRoutes`), path parameters written the OpenAPI way (`{id}`).
 */
function servedRoutes(tree: string): string[] {
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^(.*?)[├└]── (.+?)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = Math.round(match[1].length / 4);
    const path = (prefixes[depth - 1] ?? '') + match[2];
    prefixes[depth] = path;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim().toLowerCase())) {
      // A wildcard (`/v1/models/*`, for ids holding a slash) is printed as `models*`; OpenAPI calls it `{path}`.
      if (HTTP_METHODS.includes(method)) routes.push(`${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}').replace(/\/?\*$/, '/{path}')}`);
    }
  }
  return routes;
}

/** Every example an operation carries: request bodies and responses, `example` or `examples`. */
function examplesOf(operation: any): unknown[] {
  const contents = [operation.requestBody?.content, ...Object.values(operation.responses ?? {}).map((r: any) => r.content)];
  return contents.flatMap((content) =>
    Object.values(content ?? {}).flatMap((media: any) => [
      ...(media.example !== undefined ? [media.example] : []),
      ...Object.values(media.examples ?? {}).map((e: any) => e.value),
    ]),
  );
}

function operations(document: any): { route: string; operation: any }[] {
  return Object.entries(document.paths).flatMap(([path, item]: [string, any]) =>
    HTTP_METHODS.filter((method) => item[method]).map((method) => ({ route: `${method.toUpperCase()} ${path}`, operation: item[method] })),
  );
}

describe('OpenAPI document and Swagger UI', () => {
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  let document: any;

  beforeAll(async () => {
    ({ service, stop } = await startWithSimulator({ ttftMs: 0, tokensPerSecond: 0 }, { LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1' }));
    const response = await fetch(`${service.url}/docs-json`, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    document = await response.json();
  });
  afterAll(() => stop?.());

  it('serves an OpenAPI 3 document titled llm-service, versioned like the package', () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info).toMatchObject({ title: 'llm-service', version });
  });

  it('documents exactly the routes the app serves', () => {
    const fastify = service.app.getHttpAdapter().getInstance();
    const served = servedRoutes(fastify.printRoutes({ commonPrefix: false })).filter((route) => !/ \/docs/.test(route));
    const documented = operations(document).map(({ route }) => route);
    expect([...documented].sort()).toEqual([...new Set(served)].sort());
    expect(documented).toEqual(
      expect.arrayContaining([
        'POST /v1/chat/completions',
        'POST /v1/embeddings',
        'POST /v1/synthesis',
        'GET /v1/llm/stats',
        'GET /v1/llm/stats/{upstream}',
        'GET /health/live',
        'GET /health/ready',
      ]),
    );
  });

  it('gives every route at least one example', () => {
    const withoutExample = operations(document)
      .filter(({ operation }) => examplesOf(operation).length === 0)
      .map(({ route }) => route);
    expect(withoutExample).toEqual([]);
  });

  it('describes the error envelope, and the 429, 503 and 504 answers of every endpoint that calls an upstream', () => {
    const envelope = document.components.schemas.ErrorEnvelopeDto;
    expect(envelope.properties.error.$ref).toBe('#/components/schemas/ErrorBodyDto');
    const body = document.components.schemas.ErrorBodyDto;
    expect(Object.keys(body.properties).sort()).toEqual(['code', 'details', 'message', 'status', 'type', 'upstream']);
    expect([...body.required].sort()).toEqual(['code', 'message', 'status', 'type']);

    for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/synthesis']) {
      const responses = document.paths[path].post.responses;
      for (const status of ['400', '429', '503', '504']) {
        const media = responses[status]?.content?.['application/json'];
        expect({ path, status, schema: media?.schema?.$ref }).toEqual({ path, status, schema: '#/components/schemas/ErrorEnvelopeDto' });
        const examples = Object.values(media.examples).map((e: any) => e.value);
        expect(examples.every((e: any) => e.error.status === Number(status))).toBe(true);
      }
    }
  });

  it('documents both shapes of a synthesis: JSON and server-sent events', () => {
    const ok = document.paths['/v1/synthesis'].post.responses['200'].content;
    expect(ok['application/json'].example.citations[0].id).toBe('doc-1');
    expect(ok['text/event-stream'].example).toContain('event: done');
    expect(document.components.schemas.SynthesisRequestDto.required).toEqual(['question']);
  });

  it('gives request examples the service accepts', async () => {
    for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/synthesis']) {
      const examples = document.paths[path].post.requestBody.content['application/json'].examples;
      for (const [name, example] of Object.entries(examples) as [string, any][]) {
        const response = await postJson(`${service.url}${path}`, example.value, { signal: AbortSignal.timeout(10_000) });
        expect({ path, name, status: response.status }).toEqual({ path, name, status: 200 });
      }
    }
  });

  it('serves Swagger UI at /docs', async () => {
    const response = await fetch(`${service.url}/docs`, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('swagger-ui');
    // Its scripts and styles come from @fastify/static.
    for (const asset of ['swagger-ui-bundle.js', 'swagger-ui-init.js', 'swagger-ui.css']) {
      expect(html).toContain(`./docs/${asset}`);
      const served = await fetch(`${service.url}/docs/${asset}`, { signal: AbortSignal.timeout(10_000) });
      expect({ asset, status: served.status }).toEqual({ asset, status: 200 });
      await served.arrayBuffer();
    }
  });
});
