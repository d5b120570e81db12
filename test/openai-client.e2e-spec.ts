import OpenAI from 'openai';
import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { postJson, startWithSimulator, type RunningService } from './support/service-harness';

/** The official OpenAI SDK, pointed at the service, must not notice it is not talking to OpenAI. */
describe('the official openai client against the service', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  let client: OpenAI;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      {
        LLM_PROVIDER: 'sim',
        LLM_MODEL: 'sim-1',
        // An upstream error must reach the SDK as it came, not be retried away by the service.
        LLM_MAX_RETRIES: '0',
      },
      { anthropic: true },
    ));
    // No retries, so a 429 reaches the test as the SDK's error instead of a retried success.
    client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });
  });
  afterAll(() => stop?.());
  beforeEach(() => {
    simulator.setFaults(null);
    simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 0 });
  });

  const question = 'Answer from the sources.\n[doc-1] The Eiffel Tower is in Paris.\n[doc-2] Bananas are yellow.\nWhere is the Eiffel Tower?';
  const expected = 'The Eiffel Tower is in Paris. [doc-1]';
  const upstreams = [
    ['an OpenAI upstream', 'sim/sim-1'],
    ['an Anthropic upstream', 'claude/sim-1'],
  ];

  it.each(upstreams)('creates a whole chat completion on %s', async (_, model) => {
    const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: question }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0].message.content).toBe(expected);
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it.each(upstreams)('streams a chat completion on %s, the text assembled from the chunks', async (_, model) => {
    simulator.configure({ tokensPerSecond: 200 });
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: question }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(expected);
    expect(chunks).toBeGreaterThan(3); // token by token, not one buffered chunk
    expect(usage?.completion_tokens).toBe(7);
  });

  it('creates embeddings: the SDK asks for base64 and decodes it to the same floats a float request gets', async () => {
    const input = ['red apples', 'green apples'];
    const viaSdk = await client.embeddings.create({ model: 'sim/sim-embed-1', input });
    expect(viaSdk.data).toHaveLength(2);
    expect(viaSdk.data[0].embedding).toHaveLength(256);

    const asFloats = await postJson(`${service.url}/v1/embeddings`, { model: 'sim/sim-embed-1', input, encoding_format: 'float' });
    expect(asFloats.status).toBe(200);
    viaSdk.data.forEach((item, i) => {
      // float32 on the wire in base64: equal to float precision.
      item.embedding.forEach((value, d) => expect(value).toBeCloseTo(asFloats.json.data[i].embedding[d], 5));
    });
  });

  it('passes dimensions through', async () => {
    const response = await client.embeddings.create({ model: 'sim/sim-embed-1', input: 'red apples', dimensions: 64 });
    expect(response.data[0].embedding).toHaveLength(64);
  });

  it('turns an upstream 429 into the SDK RateLimitError, with our message', async () => {
    simulator.setFaults({ status: 429, count: 1 });
    const before = simulator.counters().requests;
    const failure = await client.chat.completions.create({ model: 'sim/sim-1', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.RateLimitError);
    const error = failure as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.message).toMatch(/upstream "sim" answered 429/);
    expect(error.code).toBe('UPSTREAM_ERROR');
    expect(simulator.counters().requests - before).toBe(1); // neither the SDK nor the service retried
  });

  it('turns embeddings on an Anthropic upstream into the SDK BadRequestError', async () => {
    const failure = await client.embeddings.create({ model: 'claude/sim-1', input: 'x' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OpenAI.BadRequestError);
    expect((failure as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('UNSUPPORTED');
  });
});
