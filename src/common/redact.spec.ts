import { redact } from './redact';

describe('redact', () => {
  it('removes configured secrets and anything shaped like a provider key', () => {
    expect(redact('Incorrect API key provided: sk-proj-abcdefghijklmnop.', [])).toBe('Incorrect API key provided: sk-pro…[redacted].');
    expect(redact('key=my-local-secret-token rejected', ['my-local-secret-token'])).toBe('key=[redacted] rejected');
    expect(redact('nothing secret here', ['sk-x'])).toBe('nothing secret here');
  });
});
