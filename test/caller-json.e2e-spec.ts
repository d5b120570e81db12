import { getJson, postJson, startWithSimulator, type SimulatedService } from './support/service-harness';

/** Keys that are also members of Object.prototype: caller data all the same. */
const PROTOTYPE_NAMED = { constructor: 'a', toString: 'b', valueOf: 'c', hasOwnProperty: 'd', prototype: 'e', tenant: 't' };

describe("the caller's JSON reaches the service and the upstream as sent", () => {
  let running: SimulatedService;
  const url = (path: string) => `${running.service.url}${path}`;

  beforeAll(async () => {
    running = await startWithSimulator({}, { LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1' });
  });
  afterAll(() => running.stop());

  describe('keys named like Object.prototype members', () => {
    beforeAll(async () => {
      const response = await postJson(url('/v1/documents'), {
        documents: [
          { id: 'protos', text: 'prototype named keys in metadata', metadata: PROTOTYPE_NAMED },
          { id: 'plain', text: 'prototype named keys are absent here', metadata: { tenant: 't' } },
        ],
      });
      expect(response.status).toBe(201);
    });

    it('keeps them in document metadata', async () => {
      const response = await getJson(url('/v1/documents/protos'));
      expect(response.json.metadata).toEqual(PROTOTYPE_NAMED);
    });

    it('filters by them: a filter on such a key matches only documents that hold it with that value', async () => {
      const ids = async (filter: Record<string, unknown>) =>
        (await postJson(url('/v1/search'), { query: 'prototype named keys', filter })).json.hits.map((hit: { id: string }) => hit.id).sort();
      expect(await ids({ tenant: 't' })).toEqual(['plain', 'protos']);
      expect(await ids({ constructor: 'x' })).toEqual([]);
      expect(await ids({ constructor: 'a' })).toEqual(['protos']);
      expect(await ids({ toString: 'b', valueOf: 'c' })).toEqual(['protos']);
      expect(await ids({ prototype: 'e' })).toEqual(['protos']);
    });

    it('forwards tool schemas whose properties are named constructor, valueOf or prototype, untouched', async () => {
      const parameters = {
        type: 'object',
        properties: { constructor: { type: 'string' }, valueOf: { type: 'number' }, prototype: { type: 'boolean' }, toString: { type: 'string' } },
        required: ['constructor', 'valueOf'],
      };
      const tools = [{ type: 'function', function: { name: 'make', parameters } }];
      const response = await postJson(url('/v1/chat/completions'), { model: 'sim/sim-1', messages: [{ role: 'user', content: 'hi' }], tools, max_tokens: 5 });
      expect(response.status).toBe(200);
      const sent = running.simulator.receivedBodies.at(-1)!.body as { tools: unknown };
      expect(sent.tools).toEqual(tools);
    });

    it('validates the model reply against a structured-output schema property named constructor', async () => {
      const schema = {
        type: 'object',
        properties: { constructor: { type: 'string', maxLength: 10 } },
        required: ['constructor'],
      };
      running.simulator.setFaults({ replyText: '{"constructor": 5}', count: 2, path: '/chat/completions' });
      const refused = await postJson(url('/v1/search/structured'), { query: 'prototype', schema });
      expect(refused.status).toBe(502);
      expect(refused.json.error.details.errors).toEqual([{ path: '/constructor', message: 'must be string' }]);

      running.simulator.setFaults({ replyText: '{"constructor": "ok"}', count: 1, path: '/chat/completions' });
      const accepted = await postJson(url('/v1/search/structured'), { query: 'prototype', schema });
      expect(accepted.status).toBe(200);
      expect(accepted.json.data).toEqual({ constructor: 'ok' });
    });

    it('still refuses __proto__ with a 400', async () => {
      const response = await fetch(url('/v1/documents'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"documents":[{"id":"p","text":"t","metadata":{"__proto__":{"polluted":true}}}]}',
      });
      expect(response.status).toBe(400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('invalid UTF-8', () => {
    const send = (path: string, bytes: Buffer) => fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
    // Valid JSON around a lone 0xFF byte inside a string: decoding would make it U+FFFD and accept it.
    const withInvalidByte = (json: string) => Buffer.concat(json.split('\u0000').flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [Buffer.from([0xff]), Buffer.from(part)])));

    it('is refused with a 400 envelope before anything is indexed', async () => {
      const response = await send('/v1/documents', withInvalidByte('{"documents":[{"id":"bad-utf8","text":"caf\u0000"}]}'));
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: unknown }).error).toMatchObject({ status: 400, message: 'body is not valid UTF-8' });
      expect((await getJson(url('/v1/documents/bad-utf8'))).status).toBe(404);
    });

    it('is refused with a 400 before anything is forwarded upstream', async () => {
      const lastForwarded = running.simulator.receivedBodies.at(-1);
      const response = await send('/v1/chat/completions', withInvalidByte('{"model":"sim/sim-1","messages":[{"role":"user","content":"hi \u0000"}]}'));
      expect(response.status).toBe(400);
      expect(running.simulator.receivedBodies.at(-1)).toBe(lastForwarded);
    });

    it('accepts valid multi-byte UTF-8', async () => {
      const response = await send('/v1/documents', Buffer.from('{"documents":[{"id":"utf8","text":"café 東京 🚀"}]}'));
      expect(response.status).toBe(201);
      expect((await getJson(url('/v1/documents/utf8'))).json.text).toBe('café 東京 🚀');
    });
  });
});
