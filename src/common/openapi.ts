import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyDecorators, type INestApplication } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { errorEnvelope } from './error-envelope';
import { LlmErrorCode } from './llm.exception';

/** `error` of the envelope every endpoint answers an error with (see error-envelope.ts). */
export class ErrorBodyDto {
  @ApiProperty({ description: 'The HTTP status, repeated for clients that only see the body.', example: 503 })
  status: number;

  @ApiProperty({
    description: 'Stable machine-readable code: an LlmErrorCode, or a generic one for HTTP errors.',
    example: 'POOL_EXHAUSTED',
    // The domain codes, then those ErrorEnvelopeFilter and the guards give HTTP errors.
    enum: [...Object.values(LlmErrorCode), 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL_ERROR'],
  })
  code: string;

  @ApiProperty({ description: "OpenAI's error type, so OpenAI clients can read the error.", enum: ['invalid_request_error', 'server_error'] })
  type: string;

  @ApiProperty({ example: 'upstream "openai" is exhausted: no connection became free within 5000 ms' })
  message: string;

  @ApiPropertyOptional({ description: 'The upstream the error concerns.', example: 'openai' })
  upstream?: string;

  @ApiPropertyOptional({
    description: 'Structured detail; for a validation error `fields: [{field, problems}]`.',
    type: 'object',
    additionalProperties: true,
    example: { fields: [{ field: 'question', problems: ['question should not be empty'] }] },
  })
  details?: Record<string, unknown>;
}

export class ErrorEnvelopeDto {
  @ApiProperty({ type: ErrorBodyDto })
  error: ErrorBodyDto;
}

/** One example envelope per status this service answers with, in the words the service uses. */
const ERROR_EXAMPLES: Record<number, { description: string; examples: Record<string, unknown> }> = {
  400: {
    description: 'The request is invalid: `message` and `param` name the first bad field, `details.fields` each of them.',
    examples: {
      validation: errorEnvelope(400, 'BAD_REQUEST', 'maxTokens: must not be greater than 8192', {
        param: 'maxTokens',
        details: { fields: [{ field: 'maxTokens', problems: ['must not be greater than 8192'] }] },
      }),
      unsupported: errorEnvelope(400, 'UNSUPPORTED', 'Anthropic upstreams have no embeddings endpoint; address an OpenAI-compatible upstream'),
    },
  },
  401: {
    description: 'SERVICE_API_KEYS is set and the request has no valid `Authorization: Bearer <key>`.',
    examples: { unauthorized: errorEnvelope(401, 'UNAUTHORIZED', 'A valid API key is required: Authorization: Bearer <key>') },
  },
  413: {
    description: 'The body is larger than SERVICE_BODY_LIMIT_BYTES.',
    examples: { tooLarge: errorEnvelope(413, 'PAYLOAD_TOO_LARGE', 'Request body is too large') },
  },
  415: {
    description: 'The body is not JSON.',
    examples: { notJson: errorEnvelope(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type: text/plain') },
  },
  429: {
    description: "The caller's rate limit (SERVICE_RATE_LIMIT_PER_MINUTE), the upstream's (its status and Retry-After passed through), or the monthly budget is spent.",
    examples: {
      callerRateLimit: errorEnvelope(429, 'RATE_LIMITED', 'Rate limit of 600 requests per minute reached; retry in 12 s', {
        details: { limitPerMinute: 600, retryAfterSeconds: 12 },
      }),
      upstreamRateLimit: errorEnvelope(429, 'UPSTREAM_ERROR', 'upstream "openai" answered 429: Rate limit reached', { upstream: 'openai' }),
      budget: errorEnvelope(429, 'BUDGET_EXCEEDED', 'monthly LLM budget of $100 reached ($100.0123 spent in 2025-06)', {
        details: { limitUsd: 100, spentUsd: 100.0123, month: '2025-06' },
      }),
    },
  },
  502: {
    description: 'The upstream failed (connection refused or reset, 5xx, malformed answer), or the model did not answer in the shape asked for.',
    examples: {
      unavailable: errorEnvelope(502, 'UPSTREAM_UNAVAILABLE', 'upstream "openai" refused the connection', { upstream: 'openai' }),
      invalidOutput: errorEnvelope(502, 'INVALID_OUTPUT', 'the model did not answer with the JSON asked for, twice', { upstream: 'openai' }),
    },
  },
  503: {
    description:
      'The upstream pool is exhausted (all connections busy and the queue full, or no connection within LLM_POOL_TIMEOUT_MS), ' +
      "the upstream's circuit is open, or this instance is shutting down; with Retry-After.",
    examples: {
      poolExhausted: errorEnvelope(503, 'POOL_EXHAUSTED', 'upstream "openai" is exhausted: no connection became free within 5000 ms', {
        upstream: 'openai',
        details: { reason: 'timeout', waitedMs: 5001 },
      }),
      circuitOpen: errorEnvelope(503, 'CIRCUIT_OPEN', 'upstream "openai" is failing (circuit open after 5 consecutive failures, last: http_5xx); calls fail fast until it is probed again', {
        upstream: 'openai',
        details: { circuit: 'open', retryAfterMs: 9000 },
      }),
      shuttingDown: errorEnvelope(503, 'SHUTTING_DOWN', 'the service is shutting down; retry on another instance'),
    },
  },
  504: {
    description: 'The upstream did not answer within LLM_TIMEOUT_MS (or LLM_CONNECT_TIMEOUT_MS).',
    examples: {
      timeout: errorEnvelope(504, 'UPSTREAM_TIMEOUT', 'upstream "openai" did not answer within 600000 ms', { upstream: 'openai' }),
    },
  },
};

/** The error responses of an endpoint, each with the envelope schema and examples. */
export function ApiErrorResponses(...statuses: (keyof typeof ERROR_EXAMPLES)[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorEnvelopeDto),
    ...(statuses.includes(401) ? [ApiBearerAuth()] : []),
    ...statuses.map((status) => {
      const { description, examples } = ERROR_EXAMPLES[status];
      return ApiResponse({
        status,
        description,
        type: ErrorEnvelopeDto,
        examples: Object.fromEntries(Object.entries(examples).map(([name, value]) => [name, { summary: name, value }])),
      });
    }),
  );
}

/** The statuses every /v1 endpoint that calls an upstream can answer with, besides its own 400s. */
export const UPSTREAM_ERRORS = [401, 429, 502, 503, 504] as const;

function packageVersion(): string {
  // src/common and dist/common are both two levels below the package root.
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
  return manifest.version ?? '0.0.0';
}

/** OpenAPI document at /docs-json, Swagger UI at /docs. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('llm-service')
    .setDescription(
      'LLM gateway with pooled upstream connections: OpenAI-compatible chat completions and embeddings, ' +
        'source-grounded synthesis, pool statistics and health. Every error is the JSON envelope `{error: {status, code, type, message, upstream?, details?}}`.',
    )
    .setVersion(packageVersion())
    // Needed on /v1/* when SERVICE_API_KEYS is set.
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque key', description: 'One of SERVICE_API_KEYS' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
