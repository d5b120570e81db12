import { logSafe } from './log-safe';
import { registerSecrets } from './redact';

describe('logSafe', () => {
  it('escapes every character that could break or forge a log line', () => {
    expect(logSafe('model "gpt\r\n[Nest] 1  - 01/01/2025  WARN forged"')).toBe('model "gpt\\r\\n[Nest] 1  - 01/01/2025  WARN forged"');
    expect(logSafe('a\u2028b\u2029c\u0085d\u001b[31me\u0000f\tg\u202eh')).toBe('a\\u2028b\\u2029c\\x85d\\x1b[31me\\x00f\\tg\\u202eh');
    expect(logSafe('plain text, ünïcödé and emoji 🙂 stay')).toBe('plain text, ünïcödé and emoji 🙂 stay');
  });

  it('redacts registered secrets and key-shaped text', () => {
    registerSecrets(['log-safe-spec-secret-0123456789']);
    expect(logSafe('refused LOG-SAFE-SPEC-SECRET-0123456789 and sk-proj-abcdefghijklmnop')).toBe('refused [redacted] and sk-pro…[redacted]');
  });
});
