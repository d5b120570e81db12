import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { postJson, postStream, readSse, startWithSimulator, type RunningService } from './support/service-harness';

/**
 * OpenAI-format chat to an Anthropic-wire upstream: what the upstream received (request direction)
 * and what the caller got back (response direction), tools, tool results and images included.
 */
describe('OpenAI ⇄ Anthropic translation on the wire', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  const url = () => `${service.url}/v1/chat/completions`;
  const lastBody = () => simulator.receivedBodies.at(-1);

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator({}, { LLM_PROVIDER: 'sim', LLM_MAX_RETRIES: '0' }, { anthropic: true }));
  });
  afterAll(() => stop?.());
  beforeEach(() => simulator.setFaults(null));

  const weather = {
    type: 'function',
    function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  };

  it('request: sends the upstream the exact Anthropic body for system, tools, tool calls, tool results and images', async () => {
    const response = await postJson(url(), {
      model: 'claude/sim-1',
      temperature: 1.5,
      stop: 'END',
      max_tokens: 100,
      tools: [weather],
      tool_choice: 'auto',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather where this photo was taken?' },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
            { type: 'image_url', image_url: { url: 'https://example.com/paris.png' } },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 °C' },
      ],
    });
    expect(response.status).toBe(200);
    expect(lastBody()).toEqual({
      path: '/v1/messages',
      body: {
        model: 'sim-1',
        max_tokens: 100,
        system: 'Be brief.',
        temperature: 1,
        stop_sequences: ['END'],
        tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: weather.function.parameters }],
        tool_choice: { type: 'auto' },
        stream: false,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Weather where this photo was taken?' },
              { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/paris.png' } },
            ],
          },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'sunny, 21 °C' }] },
        ],
      },
    });
  });

  it('response: a tool_use answer comes back as OpenAI tool_calls, whole', async () => {
    simulator.setFaults({ toolCall: { name: 'get_weather', arguments: { city: 'Rome' } } });
    const response = await postJson(url(), { model: 'claude/sim-1', tools: [weather], messages: [{ role: 'user', content: 'Weather in Rome?' }] });
    expect(response.status).toBe(200);
    expect(response.json.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: null, tool_calls: [{ id: expect.stringMatching(/^call_sim_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('response: a streamed tool_use comes back as OpenAI tool-call deltas that add up to the arguments', async () => {
    simulator.setFaults({ toolCall: { name: 'get_weather', arguments: { city: 'Rome', unit: 'C' } } });
    const response = await postStream(url(), { model: 'claude/sim-1', stream: true, tools: [weather], messages: [{ role: 'user', content: 'Weather in Rome?' }] });
    expect(response.status).toBe(200);
    const chunks = (await readSse(response)).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_sim_/), type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(calls.length).toBeGreaterThan(2); // the arguments arrived in several deltas
    expect(JSON.parse(calls.map((c) => c.function.arguments).join(''))).toEqual({ city: 'Rome', unit: 'C' });
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
  });

  it.each([
    ['n > 1', { n: 3 }, 'n'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['a json_schema response_format', { response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' } } } }, 'response_format'],
  ])('refuses %s for an Anthropic upstream with 400 UNSUPPORTED naming the field, before any upstream call', async (_, extra, field) => {
    const before = simulator.counters().requests;
    const response = await postJson(url(), { model: 'claude/sim-1', messages: [{ role: 'user', content: 'hi' }], ...extra });
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({ code: 'UNSUPPORTED', param: field, message: expect.stringMatching(new RegExp(`^${field}: `)) });
    expect(simulator.counters().requests).toBe(before);
  });

  it('passes the same fields untouched to an OpenAI-wire upstream', async () => {
    const body = { model: 'sim/sim-1', n: 1, logprobs: false, tools: [weather], tool_choice: 'none', messages: [{ role: 'user', content: 'hi' }] };
    expect((await postJson(url(), body)).status).toBe(200);
    expect(lastBody()).toEqual({ path: '/v1/chat/completions', body: { ...body, model: 'sim-1', stream: false } });
  });
});
