// Kept in step with chat-completion-request.dto.ts, and never more lenient than it: a body this schema accepts
// is one class-validator accepts too (validation.pipe.spec.ts checks that on generated bodies). Stricter is
// harmless: whatever it refuses is validated by the DTO, whose verdict (and error message) stands.
// `maxUtf16Length` bounds String#length, never less than what class-validator's MaxLength counts (see validation.pipe.ts).
const NO_CONSTRUCTOR_KEY = { not: { const: 'constructor' } } as const;

const MESSAGE = {
  type: 'object',
  required: ['role', 'content'],
  propertyNames: NO_CONSTRUCTOR_KEY,
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: {
      anyOf: [
        { type: 'null' },
        { type: 'string', maxUtf16Length: 1_000_000 },
        { type: 'array', maxItems: 100, items: { type: 'object', required: ['type'], properties: { type: { type: 'string' } } } },
      ],
    },
    tool_call_id: { type: 'string', maxUtf16Length: 256 },
    tool_calls: { type: 'array', maxItems: 128 },
  },
} as const;

/** The chat completions body as JSON Schema, compiled once (ajv) for the hot route. */
export const CHAT_COMPLETION_REQUEST_SCHEMA = {
  type: 'object',
  required: ['messages'],
  propertyNames: NO_CONSTRUCTOR_KEY,
  properties: {
    model: { type: 'string', maxUtf16Length: 256 },
    messages: { type: 'array', minItems: 1, maxItems: 2048, items: MESSAGE },
    stream: { type: 'boolean' },
    stream_options: { type: 'object' },
    tools: { type: 'array', maxItems: 128 },
    max_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    max_completion_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;
