import 'reflect-metadata';
import * as fc from 'fast-check';
import { compileBodySchema, createValidationPipe } from '../../common/validation.pipe';
import { ChatCompletionRequestDto } from './chat-completion-request.dto';
import { CHAT_COMPLETION_REQUEST_SCHEMA } from './chat-completion-request.schema';

const schemaAccepts = compileBodySchema(CHAT_COMPLETION_REQUEST_SCHEMA);
const pipe = createValidationPipe();
// The DTO's own verdict: a subclass has its decorators but not its schema, so the pipe runs class-validator alone.
class WithoutSchema extends ChatCompletionRequestDto {}
const dtoVerdict = (value: unknown) =>
  pipe.transform(structuredClone(value), { type: 'body', metatype: WithoutSchema }).then(
    (result) => ({ ok: true as const, result }),
    (error: Error) => ({ ok: false as const, message: error.message }),
  );
const viaBody = (value: unknown) => pipe.transform(value, { type: 'body', metatype: ChatCompletionRequestDto });

// Mostly valid, sometimes just past a bound or of the wrong type: whole bodies are often valid, and each
// bound is still crossed now and then.
const pick = <T>(valid: T[], invalid: T[]) => fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 12 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
const text = (valid: number[], invalid: number[]) => pick(valid, invalid).chain((n) => fc.constantFrom('a'.repeat(n), '😀'.repeat(Math.ceil(n / 2))));
const arrayOf = <T>(item: fc.Arbitrary<T>, valid: number[], invalid: number[]) => pick(valid, invalid).chain((n) => fc.array(item, { minLength: n, maxLength: n }));
// (An optional key is left out by fc.record itself: a JSON body has no key whose value is undefined.)
const maybe = <T>(value: fc.Arbitrary<T>) => fc.oneof({ arbitrary: value, weight: 12 }, { arbitrary: fc.constantFrom(null, 'x', 1, true, [], {}), weight: 1 });
const json = fc.jsonValue({ maxDepth: 2 });
const part = fc.oneof({ arbitrary: fc.record({ type: fc.constantFrom('text', 'image_url'), text: fc.string() }), weight: 30 }, { arbitrary: fc.constantFrom({}, { type: 1 }, null, 'text'), weight: 1 });
const message = fc.record(
  {
    role: pick(['system', 'developer', 'user', 'assistant', 'tool'], ['wizard', 1]),
    content: fc.oneof(
      { arbitrary: fc.constant(null), weight: 2 },
      { arbitrary: fc.string(), weight: 12 },
      { arbitrary: arrayOf(part, [0, 1, 100], [101]), weight: 3 },
      { arbitrary: fc.constantFrom(5, {}), weight: 1 },
    ),
    tool_call_id: maybe(text([0, 256], [257])),
    tool_calls: maybe(arrayOf(json, [0, 128], [129])),
    name: fc.string(),
  },
  { requiredKeys: ['role', 'content'] },
);
const number = (valid: number[], invalid: number[]) => maybe(pick(valid, invalid));
const fields = fc.record(
  {
    model: maybe(text([0, 1, 256], [257])),
    messages: fc.oneof({ arbitrary: arrayOf(message, [1, 2], [0]), weight: 12 }, { arbitrary: fc.constantFrom(null, 'hi', {}), weight: 1 }),
    stream: maybe(fc.boolean()),
    stream_options: maybe(fc.record({ include_usage: fc.boolean() })),
    tools: maybe(arrayOf(fc.dictionary(fc.string(), json), [0, 128], [129])),
    max_tokens: number([1, 1_000_000], [0, 1.5, 1_000_001, -1]),
    max_completion_tokens: number([1, 1_000_000], [0, 2.5, 1_000_001]),
    temperature: number([0, 0.7, 2], [-0.1, 2.01]),
    top_p: number([0, 0.5, 1], [-1, 1.01]),
    user: fc.string(),
  },
  { requiredKeys: ['messages'] },
);
// Now and then a body without messages, or with a `constructor` key (which the schema leaves to the DTO).
const body = fc.oneof(
  { arbitrary: fields, weight: 12 },
  { arbitrary: fields.map(({ messages: _, ...rest }) => rest), weight: 1 },
  { arbitrary: fields.map((value) => ({ ...value, constructor: 'x' })), weight: 1 },
);

describe('the chat completions JSON Schema (the compiled fast path)', () => {
  it('never accepts a body the DTO refuses, and hands it over as sent', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        if (!schemaAccepts(value)) return;
        accepted++;
        const verdict = await dtoVerdict(value);
        expect(verdict).toMatchObject({ ok: true });
        // Handed over as the caller sent it (what the DTO path means to do too, with keepCallerJson).
        expect(await viaBody(value)).toBe(value);
      }),
      { numRuns: 400 },
    );
    // The generator reaches both sides of every bound; a fast path nobody takes would prove nothing.
    expect(accepted).toBeGreaterThan(40);
  });

  it('bounds strings by String#length, never more leniently than the DTO (which counts a surrogate pair once)', async () => {
    // 129 emoji: 129 characters to class-validator, 258 UTF-16 units to the schema, which refuses it and leaves it to the DTO.
    const emoji = { model: '😀'.repeat(129), messages: [{ role: 'user', content: 'x' }] };
    expect((await dtoVerdict(emoji)).ok).toBe(true);
    expect(schemaAccepts(emoji)).toBe(false);
    expect(await viaBody(emoji)).toMatchObject({ model: emoji.model });
    const tooLong = { model: 'a'.repeat(257), messages: [{ role: 'user', content: 'x' }] };
    expect(schemaAccepts(tooLong)).toBe(false);
    await expect(viaBody(tooLong)).rejects.toMatchObject({ message: 'model: must be shorter than or equal to 256 characters' });
  });

  it('takes a valid body as sent and leaves every refusal to the DTO (same message, param and fields)', async () => {
    const valid = { model: 'sim-1', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5, extra: { constructor: 1 } };
    expect(await viaBody(valid)).toBe(valid);
    const bad = { messages: [{ role: 'wizard', content: 'x' }], temperature: 9 };
    const error = await viaBody(bad).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'messages[0].role: must be one of system, developer, user, assistant, tool' });
    expect(await dtoVerdict(bad)).toEqual({ ok: false, message: (error as Error).message });
  });
});
