import { Injectable } from '@nestjs/common';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import secureMetaSchema from 'ajv/dist/refs/json-schema-secure.json';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { ChatMessage } from '../llm/chat.types';
import { LlmService } from '../llm/llm.service';
import { SearchService } from './search.service';
import type { SearchHit, SearchMode, SearchRequest } from './search.types';

export const DEFAULT_OUTPUT_SCHEMA = {
  type: 'object',
  properties: {
    answer: { type: 'string' },
    citations: { type: 'array', items: { type: 'string' } },
  },
  required: ['answer', 'citations'],
  additionalProperties: false,
};

/** The first reply and one retry that is told what was wrong. */
const MAX_ATTEMPTS = 2;
// Prompt budget for the sources: each is cut, and sources stop once the total is reached.
const SOURCE_MAX_CHARS = 2_000;
const SOURCES_MAX_CHARS = 24_000;
const REPLY_EXCERPT_CHARS = 1_000;

export interface StructuredRequest extends SearchRequest {
  schema?: Record<string, unknown>;
  model?: string;
}

export interface StructuredResult {
  /** The model's reply, parsed and valid against the schema. */
  data: unknown;
  hits: { id: string; score: number }[];
  mode: SearchMode;
  degraded?: string;
  model: string;
  upstream: string;
  attempts: number;
}

export interface OutputProblem {
  /** JSON Pointer into the reply ('' for the reply as a whole). */
  path: string;
  message: string;
}

// ajv's meta-schema for schemas that are safe on untrusted data (no unbounded `pattern`,
// no quadratic `uniqueItems`), minus its `format` rule: formats are not validated here.
const { format: _formatsAreIgnored, ...safeDependencies } = secureMetaSchema.dependencies;
const SAFE_SCHEMA_META = { ...secureMetaSchema, $id: 'llm-service:safe-schema', dependencies: safeDependencies };

/**
 * Search, then have the LLM turn the hits into JSON that matches a JSON Schema,
 * validated with ajv; a reply that does not parse or validate is retried once
 * with the problems named, then reported as 502 INVALID_OUTPUT.
 */
@Injectable()
export class StructuredOutputService {
  // Compiles only our own schemas; callers' schemas get a fresh Ajv each (see `compile`).
  private readonly ajv = new Ajv({ allErrors: true, strictTypes: false });
  private readonly validateDefault = this.ajv.compile(DEFAULT_OUTPUT_SCHEMA);
  private readonly isSafeSchema = this.ajv.compile(SAFE_SCHEMA_META);

  constructor(
    private readonly search: SearchService,
    private readonly llm: LlmService,
  ) {}

  async extract(request: StructuredRequest, options: { signal?: AbortSignal } = {}): Promise<StructuredResult> {
    // Before any search or model call: a bad schema costs the caller nothing but a 400.
    const validate = request.schema ? this.compile(request.schema) : this.validateDefault;
    const schema = request.schema ?? DEFAULT_OUTPUT_SCHEMA;
    const found = await this.search.search(request, options);
    const messages: ChatMessage[] = [
      { role: 'system', content: systemPrompt(schema) },
      { role: 'user', content: userPrompt(request.query, found.hits) },
    ];

    let problems: OutputProblem[] = [];
    let reply = '';
    let upstream = '';
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const result = await this.llm.chat({ model: request.model, messages }, options);
      upstream = result.upstream;
      reply = result.completion.choices[0]?.message.content ?? '';
      const checked = checkReply(reply, validate);
      if (checked.ok) {
        return {
          data: checked.data,
          hits: found.hits.map(({ id, score }) => ({ id, score })),
          mode: found.mode,
          ...(found.degraded && { degraded: found.degraded }),
          model: result.model,
          upstream: result.upstream,
          attempts: attempt,
        };
      }
      problems = checked.problems;
      messages.push({ role: 'assistant', content: reply }, { role: 'user', content: retryPrompt(problems, request.query) });
    }
    throw new LlmException(LlmErrorCode.INVALID_OUTPUT, `the model's reply did not match the schema after ${MAX_ATTEMPTS} attempts`, {
      upstream,
      details: { attempts: MAX_ATTEMPTS, errors: problems, reply: reply.slice(0, REPLY_EXCERPT_CHARS) },
    });
  }

  /**
   * A caller's schema, compiled by its own Ajv instance: ajv caches every schema it
   * compiles and refuses a repeated `$id`, so a shared one would grow and conflict.
   * allErrors is off on purpose: on untrusted data it is ajv's documented DoS risk.
   */
  private compile(schema: Record<string, unknown>): ValidateFunction {
    let validate: ValidateFunction;
    try {
      validate = new Ajv({ allErrors: false, strict: false, validateFormats: false, logger: false }).compile(schema);
    } catch (error) {
      throw invalidSchema(`schema is not a valid JSON Schema: ${(error as Error).message}`);
    }
    if ((validate as { $async?: unknown }).$async) throw invalidSchema('schema must not be $async');
    if (!this.isSafeSchema(schema)) {
      const why = this.ajv.errorsText(this.isSafeSchema.errors, { dataVar: 'schema' });
      throw invalidSchema(`schema is not safe to run on model output (${why}); add maxLength next to pattern, propertyNames.maxLength next to patternProperties, maxItems next to uniqueItems of objects`);
    }
    return validate;
  }
}

function invalidSchema(message: string): LlmException {
  return new LlmException(LlmErrorCode.BAD_REQUEST, message, { details: { fields: [{ field: 'schema', problems: [message] }] } });
}

function systemPrompt(schema: unknown): string {
  return [
    'You turn search results into structured data.',
    'Reply with JSON only: one JSON value that validates against the JSON Schema below, with no prose and no Markdown code fences.',
    'Use only the sources in the user message; cite a source by the id in its brackets.',
    'JSON Schema:',
    JSON.stringify(schema),
  ].join('\n');
}

/** Sources as `[id] text` lines, one line each, then the question on the last line. */
function userPrompt(query: string, hits: SearchHit[]): string {
  const lines = ['Sources:'];
  let budget = SOURCES_MAX_CHARS;
  for (const hit of hits) {
    if (budget <= 0) break;
    const text = hit.text.replace(/\s+/g, ' ').trim().slice(0, Math.min(SOURCE_MAX_CHARS, budget));
    lines.push(`[${hit.id}] ${text}`);
    budget -= text.length;
  }
  if (hits.length === 0) lines.push('(no source matched the question)');
  lines.push('', `Question: ${oneLine(query)}`);
  return lines.join('\n');
}

function retryPrompt(problems: OutputProblem[], query: string): string {
  const list = problems.map((problem) => `${problem.path || '(reply)'}: ${problem.message}`).join('; ');
  return `Your reply was rejected: ${list}.\nReply again with JSON only, matching the JSON Schema.\nQuestion: ${oneLine(query)}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

type Checked = { ok: true; data: unknown } | { ok: false; problems: OutputProblem[] };

/** Parses the reply (tolerating one Markdown code fence around it) and validates it. */
export function checkReply(reply: string, validate: ValidateFunction): Checked {
  const fenced = /^```[a-zA-Z]*\s*\n([\s\S]*?)\n?```$/.exec(reply.trim());
  const json = fenced ? fenced[1] : reply.trim();
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    return { ok: false, problems: [{ path: '', message: `not valid JSON (${(error as Error).message})` }] };
  }
  if (validate(data)) return { ok: true, data };
  return { ok: false, problems: (validate.errors ?? []).map(describeError) };
}

function describeError(error: ErrorObject): OutputProblem {
  const extra = error.keyword === 'additionalProperties' ? ` (${String(error.params.additionalProperty)})` : '';
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${extra}` };
}
