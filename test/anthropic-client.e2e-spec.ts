import Anthropic from '@anthropic-ai/sdk';
import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { eventually, postJson, startWithSimulator, type RunningService } from './support/service-harness';

const KEY = 'svc-test-key-anthropic-1';
const SOURCES = 'Answer from the sources.\n[doc-1] The Eiffel Tower is in Paris.\n[doc-2] Bananas are yellow.\nWhere is the Eiffel Tower?';
const ANSWER = 'The Eiffel Tower is in Paris. [doc-1]';

/** POST /v1/messages with Anthropic's own SDK, pointed at the service as ANTHROPIC_BASE_URL would point it. */
describe('the official @anthropic-ai/sdk client against /v1/messages', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  let client: Anthropic;
  const lastBody = () => simulator.receivedBodies.at(-1);

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      { LLM_PROVIDER: 'sim', LLM_MAX_RETRIES: '0', SERVICE_API_KEYS: KEY, SERVICE_RATE_LIMIT_PER_MINUTE: '0' },
      { anthropic: true },
    ));
    client = new Anthropic({ baseURL: service.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => stop?.());
  beforeEach(() => {
    simulator.setFaults(null);
    simulator.configure({ tokensPerSecond: 0 });
  });

  const weather = { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } };

  describe.each([
    ['passed through to an Anthropic-wire upstream', 'claude/sim-1', '/v1/messages'],
    ['translated to an OpenAI-compatible upstream', 'sim/sim-1', '/v1/chat/completions'],
  ])('%s', (_, model, upstreamPath) => {
    it('creates a message', async () => {
      const message = await client.messages.create({ model, max_tokens: 200, system: 'Be brief.', messages: [{ role: 'user', content: SOURCES }] });
      expect(message).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn', content: [{ type: 'text', text: ANSWER }] });
      expect(message.usage.input_tokens).toBeGreaterThan(0);
      expect(message.usage.output_tokens).toBeGreaterThan(0);
      expect(lastBody()?.path).toBe(upstreamPath);
    });

    it('streams a message, event by event', async () => {
      simulator.configure({ tokensPerSecond: 200 });
      const stream = client.messages.stream({ model, max_tokens: 200, messages: [{ role: 'user', content: SOURCES }] });
      const types: string[] = [];
      stream.on('streamEvent', (event) => types.push(event.type));
      const final = await stream.finalMessage();
      expect(final.content).toEqual([expect.objectContaining({ type: 'text', text: ANSWER })]);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.usage.output_tokens).toBeGreaterThan(0);
      expect(types[0]).toBe('message_start');
      expect(types.filter((t) => t === 'content_block_delta').length).toBeGreaterThan(3);
      expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    });

    it('round-trips a tool call, whole and streamed', async () => {
      simulator.setFaults({ toolCall: { name: 'get_weather', arguments: { city: 'Paris' } }, count: 2 });
      const asked = await client.messages.create({ model, max_tokens: 200, tools: [weather], tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
      expect(asked.stop_reason).toBe('tool_use');
      const call = asked.content.find((block) => block.type === 'tool_use');
      expect(call).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });

      const streamed = await client.messages.stream({ model, max_tokens: 200, tools: [weather], messages: [{ role: 'user', content: 'Weather in Paris?' }] }).finalMessage();
      expect(streamed.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } })]);

      const answered = await client.messages.create({
        model,
        max_tokens: 200,
        tools: [weather],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: asked.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.type === 'tool_use' ? call!.id : '', content: 'sunny' }] },
        ],
      });
      expect(answered.content[0]).toMatchObject({ type: 'text' });
      const sent = lastBody()!.body as { messages: unknown[] };
      if (upstreamPath === '/v1/messages') {
        expect(sent.messages.at(-1)).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: (call as { id: string }).id, content: 'sunny' }] });
      } else {
        expect(sent.messages.slice(-2)).toEqual([
          { role: 'assistant', content: null, tool_calls: [{ id: (call as { id: string }).id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: (call as { id: string }).id, content: 'sunny' },
        ]);
      }
    });

    it('stops the upstream when the caller aborts a stream', async () => {
      simulator.configure({ tokensPerSecond: 10 });
      const before = simulator.counters().abortedByClient;
      const stream = client.messages.stream({ model, max_tokens: 200, messages: [{ role: 'user', content: SOURCES }] });
      await new Promise<void>((resolve) => stream.on('text', () => resolve()));
      stream.abort();
      await expect(stream.finalMessage()).rejects.toThrow();
      await eventually(() => expect(simulator.counters().abortedByClient).toBe(before + 1));
    });

    it('counts tokens', async () => {
      const counted = await client.messages.countTokens({ model, messages: [{ role: 'user', content: SOURCES }] });
      expect(counted.input_tokens).toBeGreaterThan(10);
    });
  });

  it('sends the exact Anthropic body to an Anthropic-wire upstream, only the model re-addressed', async () => {
    const request = {
      model: 'claude/sim-1',
      max_tokens: 50,
      system: [{ type: 'text', text: 'Be brief.' }],
      temperature: 0.2,
      top_k: 5,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }],
    };
    expect((await postJson(`${service.url}/v1/messages`, request, { headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' } })).status).toBe(200);
    expect(lastBody()).toEqual({ path: '/v1/messages', body: { ...request, model: 'sim-1', stream: false } });
  });

  it('translates system, images, stop sequences and tools to an OpenAI-compatible upstream exactly', async () => {
    await client.messages.create({
      model: 'sim/sim-1',
      max_tokens: 50,
      system: 'Be brief.',
      stop_sequences: ['END'],
      tools: [weather],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      metadata: { user_id: 'u-1' },
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png' as const, data: 'iVBORw0KGgo=' } }] }],
    });
    expect(lastBody()).toEqual({
      path: '/v1/chat/completions',
      body: {
        model: 'sim-1',
        max_tokens: 50,
        stop: ['END'],
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: weather.input_schema } }],
        tool_choice: 'required',
        parallel_tool_calls: false,
        user: 'u-1',
        stream: false,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        ],
      },
    });
  });

  describe('errors, in the shape the SDK reads', () => {
    it('a missing max_tokens is a BadRequestError naming the field', async () => {
      const error = await client.messages.create({ model: 'sim/sim-1', messages: [{ role: 'user', content: 'x' }] } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      expect((error as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
        type: 'error',
        error: { type: 'invalid_request_error', message: expect.stringMatching(/^max_tokens: /) },
      });
    });

    it('a wrong key is an AuthenticationError; the right one is accepted as x-api-key or Bearer', async () => {
      const wrong = new Anthropic({ baseURL: service.url, apiKey: 'nope', maxRetries: 0 });
      await expect(wrong.messages.create({ model: 'sim/sim-1', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
        Anthropic.AuthenticationError,
      );
      const bearer = new Anthropic({ baseURL: service.url, authToken: KEY, apiKey: null, maxRetries: 0 });
      expect((await bearer.messages.create({ model: 'sim/sim-1', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).type).toBe('message');
    });

    it("an upstream's 429 is a RateLimitError; what cannot be translated is a BadRequestError naming the field", async () => {
      simulator.setFaults({ status: 429, count: 1 });
      await expect(client.messages.create({ model: 'claude/sim-1', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
        Anthropic.RateLimitError,
      );
      const error = await client.messages
        .create({ model: 'sim/sim-1', max_tokens: 10, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      expect((error as Error).message).toContain('thinking: has no equivalent');
    });

    it('a stream failing midway ends with an error event the SDK raises', async () => {
      simulator.setFaults({ streamErrorAfterTokens: 2, count: 1 });
      const stream = client.messages.stream({ model: 'sim/sim-1', max_tokens: 200, messages: [{ role: 'user', content: SOURCES }] });
      await expect(stream.finalMessage()).rejects.toThrow(/overloaded/);
    });
  });
});
