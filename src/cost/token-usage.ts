/** Tokens of one call, as counted for spend: always finite numbers ≥ 0. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CheckedUsage {
  usage: TokenUsage;
  /** At least one count was missing or malformed upstream and was estimated instead. */
  estimated: boolean;
}

/**
 * A token count as an upstream reported it: a JSON number, finite and ≥ 0. A numeric
 * string, a negative or a NaN is an upstream whose accounting is broken, not a count
 * to trust: one `prompt_tokens` missing once made spend NaN and refused every later call.
 */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

/**
 * The usage block an upstream sent (OpenAI field names; codecs translate others),
 * with every count that is missing or malformed replaced by its estimate.
 */
export function checkedUsage(reported: unknown, estimate: () => { prompt: number; completion: number }): CheckedUsage {
  const block = (typeof reported === 'object' && reported !== null ? reported : {}) as Record<string, unknown>;
  let prompt = tokenCount(block.prompt_tokens);
  let completion = tokenCount(block.completion_tokens);
  const estimated = prompt === undefined || completion === undefined;
  if (estimated) {
    const guess = estimate();
    prompt ??= Math.max(0, Math.ceil(guess.prompt));
    completion ??= Math.max(0, Math.ceil(guess.completion));
  }
  return { usage: { prompt_tokens: prompt!, completion_tokens: completion!, total_tokens: prompt! + completion! }, estimated };
}

/** About four characters a token: for usage an upstream did not report, and for a call's worst case before it runs. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
