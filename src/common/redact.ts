// Provider key shapes (OpenAI sk-..., Anthropic sk-ant-...), in case an upstream echoes one we do not hold.
const KEY_PATTERN = /\b(sk-[A-Za-z0-9_-]{3})[A-Za-z0-9_*-]{8,}/g;

/** Removes every secret we know of, and anything shaped like a provider key, from text bound for a caller or a log. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out.replace(KEY_PATTERN, '$1…[redacted]');
}
