import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { NO_SOURCES_ANSWER } from '../src/synthesis/synthesis.service';
import { eventually, postJson, postStream, readSse, startWithSimulator, type RunningService } from './support/service-harness';

/** Reads named server-sent events ('message' when unnamed), their data parsed; bounded by the request's own signal. */
async function readEvents(response: Response): Promise<{ event: string; data: any; at: number }[]> {
  return (await readSse(response)).map(({ event = 'message', data, at }) => ({ event, data: JSON.parse(data), at }));
}

const SOURCES = [
  { id: 'doc-1', title: 'Paris guide', url: 'https://example.com/paris', text: 'The Eiffel Tower is in Paris. It was completed in 1889.' },
  { id: 'doc-2', text: 'Bananas are yellow. They grow in tropical climates.' },
];
const QUESTION = 'Where is the Eiffel Tower?';
const PARIS_ANSWER = 'Paris guide: The Eiffel Tower is in Paris. [doc-1]';
const SIM_PRICE = { input: 1, output: 2 }; // USD per million tokens of sim-* models (the default price table)

describe('POST /v1/synthesis', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  const url = () => `${service.url}/v1/synthesis`;
  const synthesize = (body: Record<string, unknown>) => postJson(url(), body, { signal: AbortSignal.timeout(10_000) });
  const openStream = (body: Record<string, unknown>, signal = AbortSignal.timeout(10_000)) =>
    postStream(url(), { ...body, stream: true }, signal);

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      {
        LLM_SLOW_TIMEOUT_MS: '500',
        LLM_PROVIDER: 'sim',
        LLM_MODEL: 'sim-1',
        // An upstream error must reach the caller as it came, not be retried away.
        LLM_MAX_RETRIES: '0',
      },
      // `slow` is the same simulator with a short deadline, to fail a stream midway.
      { anthropic: true, aliases: ['slow'] },
    ));
  });
  afterAll(() => stop?.());
  beforeEach(() => {
    simulator.setFaults(null);
    simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 0 });
  });

  describe('whole answers', () => {
    it.each([
      ['an OpenAI upstream', 'sim/sim-1', 'sim'],
      ['an Anthropic upstream', 'claude/sim-1', 'claude'],
    ])('answers from the given sources on %s and cites only them', async (_, model, upstream) => {
      const response = await synthesize({ question: QUESTION, sources: SOURCES, model });
      expect(response.status).toBe(200);
      const body = response.json;
      expect(body.answer).toBe(PARIS_ANSWER);
      expect(body.answer).not.toMatch(/banana/i);
      expect(body.citations).toEqual([{ id: 'doc-1', title: 'Paris guide', url: 'https://example.com/paris' }]);
      expect(body.droppedCitations).toBe(0);
      expect(body).toMatchObject({ model: 'sim-1', upstream, format: 'text' });
      const { promptTokens, completionTokens, totalTokens } = body.usage;
      expect(promptTokens).toBeGreaterThan(0);
      expect(completionTokens).toBe(9);
      expect(totalTokens).toBe(promptTokens + completionTokens);
      expect(body.costUsd).toBeCloseTo((promptTokens * SIM_PRICE.input + completionTokens * SIM_PRICE.output) / 1e6, 12);
      expect(body.latencyMs).toBeGreaterThanOrEqual(0);
    });

    it('answers from the default upstream when no model is named', async () => {
      const response = await synthesize({ question: QUESTION, sources: SOURCES });
      expect(response.status).toBe(200);
      expect(response.json).toMatchObject({ upstream: 'sim', model: 'sim-1', answer: PARIS_ANSWER });
    });

    it('drops citations of ids that are not among the sources, and counts them', async () => {
      simulator.setFaults({ replyText: 'Bananas [doc-2] and towers [doc-9] [doc-1] [doc-9] [nope].', count: 1 });
      const response = await synthesize({ question: QUESTION, sources: SOURCES });
      expect(response.status).toBe(200);
      expect(response.json.citations.map((c: { id: string }) => c.id)).toEqual(['doc-2', 'doc-1']);
      expect(response.json.citations[0]).toEqual({ id: 'doc-2' }); // no title or url given: none invented
      expect(response.json.droppedCitations).toBe(2);
    });

    it('passes maxTokens and temperature to the model', async () => {
      const response = await synthesize({ question: QUESTION, sources: SOURCES, maxTokens: 3, temperature: 0.2 });
      expect(response.status).toBe(200);
      expect(response.json.answer).toBe('Paris guide: The');
      expect(response.json.usage.completionTokens).toBe(3);
    });
  });

  describe('format json', () => {
    it('asks for JSON and returns the parsed answer and its citations', async () => {
      const response = await synthesize({ question: QUESTION, sources: SOURCES, format: 'json' });
      expect(response.status).toBe(200);
      expect(response.json).toMatchObject({ answer: PARIS_ANSWER, format: 'json', droppedCitations: 0 });
      expect(response.json.citations).toEqual([{ id: 'doc-1', title: 'Paris guide', url: 'https://example.com/paris' }]);
    });

    it('asks once more when the model does not answer JSON, and counts both calls', async () => {
      simulator.setFaults({ replyText: 'Sorry, here it is: the tower is in Paris.', count: 1 });
      const before = simulator.counters().requests;
      const response = await synthesize({ question: QUESTION, sources: SOURCES, format: 'json' });
      expect(response.status).toBe(200);
      expect(response.json.answer).toBe(PARIS_ANSWER);
      expect(simulator.counters().requests - before).toBe(2);
      expect(response.json.usage.completionTokens).toBe(9 + 9); // the failed attempt was paid for too
    });

    it('gives up with 502 INVALID_OUTPUT when the retry is not JSON either', async () => {
      simulator.setFaults({ replyText: '{"answer": "The tower', count: 2 });
      const response = await synthesize({ question: QUESTION, sources: SOURCES, format: 'json' });
      expect(response.status).toBe(502);
      expect(response.json.error).toMatchObject({ status: 502, code: 'INVALID_OUTPUT', upstream: 'sim' });
    });
  });

  describe('streamed', () => {
    it('sends deltas as the tokens arrive, then a done event with citations, usage and cost', async () => {
      simulator.configure({ tokensPerSecond: 25 }); // 9 tokens: ~320 ms from first to last
      const started = performance.now();
      const response = await openStream({ question: QUESTION, sources: SOURCES });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      expect(response.headers.get('x-llm-upstream')).toBe('sim');
      const events = await readEvents(response);

      const deltas = events.filter((e) => e.event === 'delta');
      const done = events.at(-1)!;
      expect(events.map((e) => e.event)).toEqual([...deltas.map(() => 'delta'), 'done']);
      expect(deltas.length).toBeGreaterThan(3); // token chunks, not one buffered answer
      expect(deltas.map((e) => e.data.text).join('')).toBe(PARIS_ANSWER);
      // The first token reached the caller long before the upstream finished generating.
      expect(deltas[0].at - started).toBeLessThan(done.at - started - 150);

      expect(done.data.citations).toEqual([{ id: 'doc-1', title: 'Paris guide', url: 'https://example.com/paris' }]);
      expect(done.data).toMatchObject({ droppedCitations: 0, model: 'sim-1', upstream: 'sim' });
      expect(done.data.usage.completionTokens).toBe(9);
      expect(done.data.usage.totalTokens).toBe(done.data.usage.promptTokens + 9);
      expect(done.data.costUsd).toBeGreaterThan(0);
      expect(done.data.latencyMs).toBeGreaterThanOrEqual(250);
    });

    it('streams from an Anthropic upstream too', async () => {
      const events = await readEvents(await openStream({ question: QUESTION, sources: SOURCES, model: 'claude/sim-1' }));
      expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe(PARIS_ANSWER);
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { upstream: 'claude', citations: [{ id: 'doc-1' }] } });
    });

    it('aborts the upstream request when the caller disconnects mid-stream', async () => {
      simulator.configure({ tokensPerSecond: 20 });
      const before = simulator.counters().abortedByClient;
      const controller = new AbortController();
      const response = await openStream(
        { question: 'Which things are yellow or in Paris or tropical or completed?', sources: SOURCES },
        AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
      );
      const reader = response.body!.getReader();
      await reader.read(); // the stream has started
      controller.abort();
      await eventually(() => expect(simulator.counters().abortedByClient - before).toBe(1));
      await eventually(async () => expect((await fetch(`${service.url}/v1/llm/stats/sim`)).ok && simulator.counters().inFlight).toBe(0));
    });

    it('ends with an error event carrying the envelope when the upstream fails midway', async () => {
      simulator.setFaults({ stallAfterTokens: 2, count: 1 }); // then silence, past the 500 ms deadline of `slow`
      const events = await readEvents(await openStream({ question: QUESTION, sources: SOURCES, model: 'slow/sim-1' }));
      expect(events.slice(0, 2).map((e) => e.event)).toEqual(['delta', 'delta']);
      const last = events.at(-1)!;
      expect(last.event).toBe('error');
      // The status line is long gone: the envelope says what happened.
      expect(last.data.error).toMatchObject({ type: 'server_error', code: expect.any(String), message: expect.any(String) });
      expect(last.data.error.status).toBeGreaterThanOrEqual(500);
    });

    it('answers an upstream error before the first token with its status, not a stream', async () => {
      simulator.setFaults({ status: 429, retryAfterS: 3, count: 1 });
      const response = await openStream({ question: QUESTION, sources: SOURCES });
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('3');
      expect(((await response.json()) as any).error).toMatchObject({ status: 429, code: 'UPSTREAM_ERROR', upstream: 'sim' });
    });
  });

  it('passes an upstream 429 through as 429 with its Retry-After', async () => {
    simulator.setFaults({ status: 429, retryAfterS: 2, count: 1 });
    const response = await synthesize({ question: QUESTION, sources: SOURCES });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.json.error).toMatchObject({ status: 429, code: 'UPSTREAM_ERROR', upstream: 'sim' });
    expect(response.json.error.message).toMatch(/^upstream "sim" answered 429/);
  });

  describe('useSearch', () => {
    beforeAll(async () => {
      const indexed = await postJson(`${service.url}/v1/documents`, {
        documents: [
          { id: 'eiffel', title: 'Eiffel Tower', text: 'The Eiffel Tower is in Paris. It is 330 metres tall.', metadata: { url: 'https://example.com/eiffel' } },
          { id: 'banana', text: 'Bananas are yellow and grow in tropical climates.' },
          { id: 'rome', title: 'Colosseum', text: 'The Colosseum is in Rome.' },
        ],
      });
      expect(indexed.status).toBeLessThan(300);
    });

    it('retrieves the sources with search and cites the retrieved document', async () => {
      const response = await synthesize({ question: 'How tall is the Eiffel Tower?', useSearch: true, topK: 2 });
      expect(response.status).toBe(200);
      expect(response.json.answer).toContain('It is 330 metres tall. [eiffel]');
      expect(response.json.citations).toEqual([{ id: 'eiffel', title: 'Eiffel Tower', url: 'https://example.com/eiffel' }]);
    });

    it('streams a retrieval-augmented answer', async () => {
      const events = await readEvents(await openStream({ question: 'How tall is the Eiffel Tower?', useSearch: true }));
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { citations: [{ id: 'eiffel' }] } });
    });

    it('says so without calling a model when search finds nothing', async () => {
      const before = simulator.counters().requests;
      const response = await synthesize({ question: 'Zebrafish xylophones?', useSearch: true });
      expect(response.status).toBe(200);
      expect(response.json).toMatchObject({ answer: NO_SOURCES_ANSWER, citations: [], costUsd: 0, usage: { totalTokens: 0 } });
      expect(simulator.counters().requests).toBe(before);
    });
  });

  describe('refuses bad requests with 400 and the field named', () => {
    const one = [{ id: 'a', text: 'x' }];
    const many = (count: number, text = 'x') => Array.from({ length: count }, (_, i) => ({ id: `s-${i}`, text }));
    it.each<[string, Record<string, unknown>, string[]]>([
      ['a missing question', { sources: one }, ['question']],
      ['a blank question', { question: '   ', sources: one }, ['question']],
      ['a question over 4000 characters', { question: 'q'.repeat(4_001), sources: one }, ['question']],
      ['a numeric question', { question: 42, sources: one }, ['question']],
      ['neither sources nor useSearch', { question: 'q' }, ['sources']],
      ['empty sources without useSearch', { question: 'q', sources: [] }, ['sources']],
      ['both sources and useSearch', { question: 'q', sources: one, useSearch: true }, ['sources', 'useSearch']],
      ['sources that are not an array', { question: 'q', sources: 'doc-1' }, ['sources']],
      ['more than 50 sources', { question: 'q', sources: many(51) }, ['sources']],
      ['duplicate source ids', { question: 'q', sources: [...one, { id: 'a', text: 'y' }] }, ['sources']],
      // 7 × 50 000 three-byte characters: each source within its character limit, 1.05 MB together.
      ['source texts over 1 MB together', { question: 'q', sources: many(7, '€'.repeat(50_000)) }, ['sources']],
      ['a source text over 50 000 characters', { question: 'q', sources: [{ id: 'a', text: 'x'.repeat(50_001) }] }, ['sources[0].text']],
      ['a source without text', { question: 'q', sources: [{ id: 'a' }] }, ['sources[0].text']],
      ['a numeric source text', { question: 'q', sources: [{ id: 'a', text: 5 }] }, ['sources[0].text']],
      ['a source id with brackets', { question: 'q', sources: [{ id: 'a]b', text: 'x' }] }, ['sources[0].id']],
      ['a source id over 200 characters', { question: 'q', sources: [{ id: 'i'.repeat(201), text: 'x' }] }, ['sources[0].id']],
      // Not `true`, so the sources are missing too.
      ['useSearch as a string', { question: 'q', useSearch: 'true' }, ['useSearch', 'sources']],
      ['topK over 20', { question: 'q', useSearch: true, topK: 21 }, ['topK']],
      ['stream as a string', { question: 'q', sources: one, stream: 'yes' }, ['stream']],
      ['maxTokens of 0', { question: 'q', sources: one, maxTokens: 0 }, ['maxTokens']],
      ['maxTokens over 8192', { question: 'q', sources: one, maxTokens: 8_193 }, ['maxTokens']],
      ['a fractional maxTokens', { question: 'q', sources: one, maxTokens: 1.5 }, ['maxTokens']],
      ['temperature over 2', { question: 'q', sources: one, temperature: 2.5 }, ['temperature']],
      ['temperature as a string', { question: 'q', sources: one, temperature: '0.5' }, ['temperature']],
      ['an unknown format', { question: 'q', sources: one, format: 'xml' }, ['format']],
      ['a streamed JSON format', { question: 'q', sources: one, format: 'json', stream: true }, ['format']],
      ['an empty model', { question: 'q', sources: one, model: '' }, ['model']],
    ])('%s', async (_, body, fields) => {
      const before = simulator.counters().requests;
      const response = await synthesize(body);
      expect(response.status).toBe(400);
      expect(response.json.error).toMatchObject({ status: 400, code: 'BAD_REQUEST', param: expect.any(String) });
      const named = response.json.error.details.fields.map((f: { field: string }) => f.field);
      expect([...new Set(named)].sort()).toEqual([...fields].sort());
      expect(simulator.counters().requests).toBe(before); // refused before any upstream call
    });
  });
});
