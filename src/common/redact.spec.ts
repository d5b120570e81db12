import { SecretRedactor, redact } from './redact';

const KEY = 'vllm-local-token-4c1e9a7f2b8d6e03';
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('redact', () => {
  it('removes configured secrets and anything shaped like a provider key', () => {
    expect(redact('Incorrect API key provided: sk-proj-abcdefghijklmnop.', [])).toBe('Incorrect API key provided: sk-pro…[redacted].');
    expect(redact('key=my-local-secret-token rejected', ['my-local-secret-token'])).toBe('key=[redacted] rejected');
    expect(redact('nothing secret here', ['sk-x'])).toBe('nothing secret here');
  });
});

describe('SecretRedactor', () => {
  const redactor = new SecretRedactor([KEY, 'short-key', undefined, 'abc']);

  it.each([
    ['the key as sent', `bad key ${KEY}.`, 'bad key [redacted].'],
    ['its upper-case form', `BAD KEY ${KEY.toUpperCase()}`, 'BAD KEY [redacted]'],
    ['a 14-character prefix, truncated with stars', `provided: ${KEY.slice(0, 14)}****e03 (check it)`, 'provided: [redacted] (check it)'],
    ['a longer prefix', `"${KEY.slice(0, 22)}"`, '"[redacted]"'],
    ['its base64', `b64 ${b64(KEY)}!`, 'b64 [redacted]!'],
    ['its url-safe base64', `${Buffer.from(KEY).toString('base64url')} x`, '[redacted] x'],
    ['a Bearer header in base64', `h=${b64(`Bearer ${KEY}`)}`, 'h=QmVhcmVyI[redacted]'],
    ['a user:key pair in base64', `basic ${b64(`user:${KEY}`)}`, 'basic dXNlc[redacted]'],
    ['a short secret, whole', 'token short-key used', 'token [redacted] used'],
  ])('finds %s', (_, text, expected) => {
    expect(redactor.redact(text)).toBe(expected);
  });

  it('leaves text without a secret alone, including base64 that only shares a few bytes', () => {
    const text = `abc ${b64(KEY.slice(0, 10))} ${KEY.slice(0, 13)} plain words`;
    expect(redactor.redact(text)).toBe(text);
    expect(new SecretRedactor([]).redact(text)).toBe(text);
  });

  it('scans a megabyte in about a millisecond per configured key set (no backtracking blow-up)', () => {
    const keys = Array.from({ length: 8 }, (_, i) => `sk-proj-${i}${KEY}`);
    const many = new SecretRedactor(keys);
    const base64Run = Buffer.alloc(768 * 1024, 7).toString('base64'); // ~1 MB of base64, the worst case for the edges
    const started = performance.now();
    expect(many.redact(base64Run)).toBe(base64Run);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
