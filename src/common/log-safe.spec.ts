import { jsonLogLine, logSafe } from './log-safe';
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

describe('jsonLogLine (LOG_FORMAT=json)', () => {
  it('writes one JSON object a line: fields at the top level, text as msg, nothing raw that breaks a line', () => {
    const line = jsonLogLine({ method: 'POST', route: '/v1/x', status: 200, model: 'm\r\n{"forged":1}\u2028' }, 'log', 'Access');
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\r\n\u2028\u2029]/);
    const parsed = JSON.parse(line);
    expect(parsed).toMatchObject({ level: 'info', context: 'Access', method: 'POST', route: '/v1/x', status: 200, model: 'm\r\n{"forged":1}\u2028' });
    expect(JSON.parse(jsonLogLine('plain text', 'error', 'Errors', 'Error: x\n    at y'))).toMatchObject({ level: 'error', msg: 'plain text', stack: 'Error: x\n    at y' });
  });

  it('redacts registered secrets and key-shaped text in every field', () => {
    registerSecrets(['json-line-spec-secret-0123456789']);
    const line = jsonLogLine({ note: 'JSON-LINE-SPEC-SECRET-0123456789', other: 'sk-proj-abcdefghijklmnop' }, 'warn');
    expect(line).not.toMatch(/SPEC-SECRET|abcdefghijklmnop/i);
    expect(() => JSON.parse(line)).not.toThrow();
  });
});
