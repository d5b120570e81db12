import OpenAI from 'openai';
import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { postJson, startWithSimulator, type RunningService } from './support/service-harness';

/** Every SDK shows `error.message`: it must name the field at fault, and `param` must be OpenAI's. */
describe('errors name the field', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  const url = () => `${service.url}/v1/chat/completions`;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator({}, { LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', LLM_MAX_RETRIES: '0' }));
  });
  afterAll(() => stop?.());
  beforeEach(() => simulator.setFaults(null));

  it('puts the first bad field and its reason in the message, the field in param and every problem in details.fields', async () => {
    const response = await postJson(url(), { messages: [{ role: 'wizard', content: 'x' }], temperature: 9 });
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({
      code: 'BAD_REQUEST',
      type: 'invalid_request_error',
      message: 'messages[0].role: must be one of system, developer, user, assistant, tool',
      param: 'messages[0].role',
    });
    expect(response.json.error.details.fields).toEqual(
      expect.arrayContaining([
        { field: 'messages[0].role', problems: ['must be one of system, developer, user, assistant, tool'] },
        { field: 'temperature', problems: ['must not be greater than 2'] },
      ]),
    );
  });

  it('reaches the official openai client as BadRequestError with message and param', async () => {
    const client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.chat.completions.create({ model: 'sim-1', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('max_tokens: must not be less than 1');
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('max_tokens');
  });

  it("passes an upstream's own param and code through", async () => {
    simulator.setFaults({ status: 400, errorParam: 'messages', errorMessage: "This model's maximum context length is 8192 tokens" });
    const response = await postJson(url(), { messages: [{ role: 'user', content: 'x' }] });
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({ code: 'UPSTREAM_ERROR', param: 'messages', message: expect.stringContaining('maximum context length') });

    simulator.setFaults({ status: 429 });
    const limited = await postJson(url(), { messages: [{ role: 'user', content: 'x' }] });
    expect(limited.status).toBe(429);
    expect(limited.json.error.details).toEqual({ upstreamCode: 'rate_limit_exceeded' });
  });
});
