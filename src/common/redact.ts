// Provider key shapes (OpenAI sk-..., Anthropic sk-ant-...), in case an upstream echoes one we do not hold.
const KEY_PATTERN = /\b(sk-[A-Za-z0-9_-]{3})[A-Za-z0-9_*-]{8,}/g;
const REDACTED = '[redacted]';

// Upstreams cut keys short in their messages ("Incorrect API key provided: sk-proj-abcdefgh****wxyz"):
// 14 characters of a key are enough to recognise it and too many to be chance.
const MIN_PREFIX = 14;
// A shorter secret is redacted only whole; below 4 characters it would redact ordinary words.
const MIN_SECRET = 4;
// A key's base64 is found at any of the 3 byte alignments (alone, in "Bearer <key>", in "user:<key>"):
// the characters that encode only key bytes. Below 16 characters (12 key bytes) a match could be chance.
const MIN_BASE64_CORE = 16;
// What may continue a key, or a truncated one, after its prefix; eaten with it. A dot only inside
// (JWT-style keys), so the full stop after "provided: <key>." stays.
const KEY_TAIL = '[A-Za-z0-9_\\-*~+/=]*(?:\\.[A-Za-z0-9_\\-*~+/=]+)*';
// The base64 characters around a core that still encode key bytes (half a group each side), and padding.
const BASE64_EDGE = '[A-Za-z0-9+/_-]{0,3}';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The base64 (standard and url-safe) runs that encode only bytes of `secret`, at each of the 3 alignments. */
function base64Cores(secret: string): string[] {
  const cores = new Set<string>();
  const bytes = Buffer.from(secret, 'utf8');
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // The first group mixes padding with key bytes when offset > 0; the last, partial group depends on what follows.
    const core = encoded.slice(offset > 0 ? 4 : 0, 4 * Math.floor((offset + bytes.length) / 3));
    if (core.length < MIN_BASE64_CORE) continue;
    cores.add(core);
    cores.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...cores];
}

/**
 * Finds a set of secrets in text in every form an upstream has been seen to give one back: as sent,
 * in another case, cut short to a 14+ character prefix, and base64-encoded alone or inside an
 * auth header. One precompiled expression per set, so a scan costs one pass over the text.
 */
export class SecretRedactor {
  private readonly pattern?: RegExp;

  constructor(secrets: Iterable<string | undefined>) {
    const textual = new Set<string>();
    const encoded = new Set<string>();
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET) continue;
      // Case-insensitive below: the upper-case form (and any other) is matched with the key.
      textual.add(escapeRegExp(secret.length > MIN_PREFIX ? secret.slice(0, MIN_PREFIX) : secret));
      for (const core of base64Cores(secret)) encoded.add(escapeRegExp(core));
    }
    const alternatives: string[] = [];
    if (textual.size > 0) alternatives.push(`(?:${[...textual].join('|')})${KEY_TAIL}`);
    if (encoded.size > 0) alternatives.push(`${BASE64_EDGE}(?:${[...encoded].join('|')})${BASE64_EDGE}={0,2}`);
    // Case-insensitive for base64 too: a 16-character core matching by chance in another case is not a real risk.
    if (alternatives.length > 0) this.pattern = new RegExp(alternatives.join('|'), 'gi');
  }

  redact(text: string): string {
    if (!this.pattern) return text;
    this.pattern.lastIndex = 0;
    return text.replace(this.pattern, REDACTED);
  }
}

// The secrets this process holds (provider keys, caller keys), registered once at boot by createApp.
// Process-wide because text bound for a caller or a log is written in places no injector reaches
// (exception messages, the logger); the set only grows, so a test process booting several apps
// redacts every key any of them held.
const registered = new Set<string>();
let known = new SecretRedactor([]);
const perList = new WeakMap<readonly string[], SecretRedactor>();

export function registerSecrets(secrets: Iterable<string | undefined>): void {
  const before = registered.size;
  for (const secret of secrets) if (secret && secret.length >= MIN_SECRET) registered.add(secret);
  if (registered.size !== before) known = new SecretRedactor(registered);
}

/** Removes the registered secrets (in every form) and no more: for model output, where text shaped like a key may be meant. */
export function redactSecrets(text: string): string {
  return known.redact(text);
}

/**
 * Removes every secret we know of (registered, and `secrets`), in every form, and anything shaped
 * like a provider key, from text bound for a caller or a log: upstream error messages above all.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = known.redact(text);
  if (secrets.length > 0) {
    let redactor = perList.get(secrets);
    if (!redactor) perList.set(secrets, (redactor = new SecretRedactor(secrets)));
    out = redactor.redact(out);
  }
  return out.replace(KEY_PATTERN, `$1…${REDACTED}`);
}
