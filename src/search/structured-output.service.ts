import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import Ajv from 'ajv';
import secureMetaSchema from 'ajv/dist/refs/json-schema-secure.json';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { ChatMessage } from '../llm/chat.types';
import { LlmService, type CallOptions } from '../llm/llm.service';
import { InvalidSchema, SchemaChecker, SchemaCheckTimeout, type SchemaError } from './schema-check/schema-checker';
import { searchConfig, type SearchConfig } from './search.config';
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

// ajv's meta-schema for schemas that are safe on untrusted data (`pattern` bounded by `maxLength`,
// no quadratic `uniqueItems`), minus its `format` rule: formats are not validated here. A bound
// does not stop a backtracking pattern (30 characters can take minutes): the worker's time limit does.
const { format: _formatsAreIgnored, ...safeDependencies } = secureMetaSchema.dependencies;
const SAFE_SCHEMA_META = { ...secureMetaSchema, $id: 'llm-service:safe-schema', dependencies: safeDependencies };

/** Checks a parsed reply: the problems found, none when it is valid. */
type ReplyCheck = (data: unknown) => Promise<OutputProblem[]>;

/**
 * Search, then have the LLM turn the hits into JSON that matches a JSON Schema,
 * validated with ajv; a reply that does not parse or validate is retried once
 * with the problems named, then reported as 502 INVALID_OUTPUT. Callers' schemas
 * run on a worker thread with a time limit (SEARCH_SCHEMA_TIMEOUT_MS).
 */
@Injectable()
export class StructuredOutputService implements OnModuleDestroy {
  // Compiles only our own schemas; callers' schemas are compiled and run on the SchemaChecker's worker.
  private readonly ajv = new Ajv({ allErrors: true, strictTypes: false });
  private readonly validateDefault = this.ajv.compile(DEFAULT_OUTPUT_SCHEMA);
  private readonly isSafeSchema = this.ajv.compile(SAFE_SCHEMA_META);
  private readonly checker: SchemaChecker;

  constructor(
    private readonly search: SearchService,
    private readonly llm: LlmService,
    @Inject(searchConfig.KEY) config: SearchConfig,
  ) {
    this.checker = new SchemaChecker(config.schemaTimeoutMs);
  }

  onModuleDestroy(): Promise<void> {
    return this.checker.close();
  }

  async extract(request: StructuredRequest, options: CallOptions = {}): Promise<StructuredResult> {
    // Before any search or model call: a bad schema costs the caller nothing but a 400.
    const validate = request.schema ? await this.callerCheck(request.schema) : this.defaultCheck;
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
      const checked = await checkReply(reply, validate);
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

  /** Our own schema, on this thread: it has no pattern. */
  private readonly defaultCheck: ReplyCheck = async (data) => (this.validateDefault(data) ? [] : (this.validateDefault.errors ?? []).map(describeError));

  /**
   * A caller's schema: refused with a 400 when unsafe or unusable, else checked on the worker
   * thread (compiling alone is some 20 ms of ajv: not for this event loop either).
   */
  private async callerCheck(schema: Record<string, unknown>): Promise<ReplyCheck> {
    if (!this.isSafeSchema(schema)) {
      const why = this.ajv.errorsText(this.isSafeSchema.errors, { dataVar: 'schema' });
      throw invalidSchema(`schema is not safe to run on model output (${why}); add maxLength next to pattern, propertyNames.maxLength next to patternProperties, maxItems next to uniqueItems of objects`);
    }
    const schemaJson = JSON.stringify(schema);
    await this.onWorker(() => this.checker.compile(schemaJson));
    return async (data) => (await this.onWorker(() => this.checker.check(schemaJson, data))).map(describeError);
  }

  /** The worker's refusals as the caller's 400s. */
  private async onWorker<T>(job: () => Promise<T>): Promise<T> {
    try {
      return await job();
    } catch (error) {
      if (error instanceof InvalidSchema) throw invalidSchema(error.message);
      if (error instanceof SchemaCheckTimeout) {
        throw invalidSchema(
          `schema took longer than ${error.timeoutMs} ms (SEARCH_SCHEMA_TIMEOUT_MS) to check and was stopped; a pattern that backtracks, such as (a+)+ on the model's reply, does that: simplify it`,
        );
      }
      throw error;
    }
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
async function checkReply(reply: string, validate: ReplyCheck): Promise<Checked> {
  const fenced = /^```[a-zA-Z]*\s*\n([\s\S]*?)\n?```$/.exec(reply.trim());
  const json = fenced ? fenced[1] : reply.trim();
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    return { ok: false, problems: [{ path: '', message: `not valid JSON (${(error as Error).message})` }] };
  }
  const problems = await validate(data);
  return problems.length === 0 ? { ok: true, data } : { ok: false, problems };
}

function describeError(error: SchemaError): OutputProblem {
  const extra = error.keyword === 'additionalProperties' ? ` (${String(error.params.additionalProperty)})` : '';
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${extra}` };
}
