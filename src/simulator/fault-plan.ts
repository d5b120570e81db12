export interface FaultOptions {
  /** Apply to the next N requests to LLM endpoints (then clear); undefined = every request until cleared. */
  count?: number;
  /** Answer this HTTP status with a wire-format error body. */
  status?: number;
  /** With status: add a Retry-After header (seconds). */
  retryAfterS?: number;
  /** With status: add a retry-after-ms header. */
  retryAfterMs?: number;
  /** Destroy the socket (RST) as soon as the request arrives; no response byte. */
  reset?: boolean;
  /** Wait this long before sending anything. */
  stallBeforeHeadersMs?: number;
  /** Streaming: after this many tokens stop sending (the socket stays open) ... */
  stallAfterTokens?: number;
  /** ... for this long, then continue; default forever (until the client closes). */
  stallMs?: number;
  /**
   * Streaming: after the last event, wait this long before ending the body, so its chunked terminator
   * comes in a later packet (as uvicorn and nginx often send it): the stream is complete before the body is.
   */
  streamEndDelayMs?: number;
  /** Replace the generated answer text with this (e.g. malformed JSON). */
  replyText?: string;
  /** Answer with a call to this tool (the wire's tool_use / tool_calls, streamed as argument deltas) instead of text. */
  toolCall?: { name: string; arguments: Record<string, unknown> };
  /** Only apply to requests whose path ends with this (e.g. '/messages'). */
  path?: string;
  /** Hostile: pad the answer to about this many bytes (whole: one JSON completion; streamed: content events), sent as fast as read. */
  bodyBytes?: number;
  /** Hostile: an answer that never ends (whole: a JSON completion whose text never closes; streamed: content events forever). */
  endlessBody?: boolean;
  /** Hostile, streamed: after the headers, one SSE line that never gets its newline. */
  unterminatedSse?: boolean;
  /** Hostile: answer this 3xx (with a Location) carrying the normal answer as its body, as a misrouted proxy might. */
  redirectStatus?: number;
  /** Streaming: after this many tokens send the wire's error event (a 200 stream failing midway) and end the stream. */
  streamErrorAfterTokens?: number;
  /** The `param` of an injected error's body (OpenAI wire), as OpenAI names the field at fault. */
  errorParam?: string;
  /** The message of an injected error (status or streamErrorAfterTokens); `{key}` becomes the request's API key, as providers echo it. */
  errorMessage?: string;
  /**
   * Rewrite the usage block the wire sends (a broken upstream's accounting), in the wire's own field names:
   * a value replaces the field, null removes it, e.g. {"prompt_tokens": null} or {"input_tokens": "12"}.
   */
  usage?: Record<string, unknown>;
  /** Compress a whole (non-streamed) answer with this Content-Encoding, as a provider behind a compressing proxy does. */
  contentEncoding?: 'gzip' | 'deflate' | 'deflate-raw' | 'br';
}

type FieldKind = 'count' | 'duration' | 'status' | 'redirect' | 'boolean' | 'string' | 'object' | 'encoding';

const ENCODINGS = ['gzip', 'deflate', 'deflate-raw', 'br'];

const FIELDS: Record<keyof FaultOptions, FieldKind> = {
  count: 'count',
  status: 'status',
  retryAfterS: 'duration',
  retryAfterMs: 'duration',
  reset: 'boolean',
  stallBeforeHeadersMs: 'duration',
  stallAfterTokens: 'count',
  stallMs: 'duration',
  streamEndDelayMs: 'duration',
  replyText: 'string',
  toolCall: 'object',
  path: 'string',
  bodyBytes: 'count',
  endlessBody: 'boolean',
  unterminatedSse: 'boolean',
  redirectStatus: 'redirect',
  streamErrorAfterTokens: 'count',
  errorMessage: 'string',
  errorParam: 'string',
  usage: 'object',
  contentEncoding: 'encoding',
};

function fieldProblem(kind: FieldKind, value: unknown): string | undefined {
  switch (kind) {
    case 'count':
      return Number.isInteger(value) && (value as number) >= 0 ? undefined : 'a non-negative integer';
    case 'duration':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? undefined : 'a non-negative number';
    case 'status':
      return Number.isInteger(value) && (value as number) >= 400 && (value as number) <= 599 ? undefined : 'an HTTP error status (400-599)';
    case 'redirect':
      return Number.isInteger(value) && (value as number) >= 300 && (value as number) <= 399 ? undefined : 'an HTTP redirect status (300-399)';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'a boolean';
    case 'string':
      return typeof value === 'string' ? undefined : 'a string';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : 'a JSON object';
    case 'encoding':
      return ENCODINGS.includes(value as string) ? undefined : `one of ${ENCODINGS.join(', ')}`;
  }
}

/**
 * Validates faults that arrive as JSON (POST /_sim/faults). Unknown keys are
 * refused so a typo cannot silently inject nothing. null or {} means "clear".
 */
export function parseFaultOptions(value: unknown): FaultOptions | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError('faults must be a JSON object or null');
  const problems: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const kind = FIELDS[key as keyof FaultOptions];
    if (!kind) problems.push(`${key}: unknown fault option`);
    else if (field !== undefined) {
      const expected = fieldProblem(kind, field);
      if (expected) problems.push(`${key}: expected ${expected}`);
    }
  }
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  return Object.keys(value).length === 0 ? null : (value as FaultOptions);
}

/** The faults currently armed, and how many requests they still apply to. */
export class FaultPlan {
  private faults: FaultOptions | null = null;
  private remaining: number | undefined;

  set(faults: FaultOptions | null): void {
    const armed = faults && Object.keys(faults).length > 0 && faults.count !== 0 ? { ...faults } : null;
    this.faults = armed;
    this.remaining = armed?.count;
  }

  /** The faults for this request, consuming one from `count`; undefined when none apply. */
  take(path: string): FaultOptions | undefined {
    const faults = this.faults;
    if (!faults || (faults.path !== undefined && !path.endsWith(faults.path))) return undefined;
    if (this.remaining !== undefined && --this.remaining <= 0) this.faults = null;
    return faults;
  }

  /** What is armed now, with `count` showing the requests still to be affected. */
  current(): FaultOptions | null {
    if (!this.faults) return null;
    return this.remaining === undefined ? { ...this.faults } : { ...this.faults, count: this.remaining };
  }
}
