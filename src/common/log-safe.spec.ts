import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flushLogs, jsonLogLine, logSafe, SafeConsoleLogger } from './log-safe';
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

describe('SafeConsoleLogger (LOG_FORMAT=json): one write per stream per event-loop turn', () => {
  /** What the logger handed each stream, in order; nothing reaches the terminal. */
  function spyStreams() {
    const writes: Array<[stream: string, text: string]> = [];
    const spies = (['stdout', 'stderr'] as const).map((name) =>
      jest.spyOn(process[name], 'write').mockImplementation(((chunk: string) => writes.push([name, chunk]) > 0) as typeof process.stdout.write),
    );
    return { writes, restore: () => spies.forEach((spy) => spy.mockRestore()) };
  }
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  const msgs = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line).msg);

  let streams: ReturnType<typeof spyStreams>;
  beforeEach(() => (streams = spyStreams()));
  afterEach(() => {
    flushLogs();
    streams.restore();
  });

  it('writes the lines of one turn with one write to stdout, in order', async () => {
    const logger = new SafeConsoleLogger({ json: true, logLevels: ['log', 'warn', 'debug'] });
    for (let i = 1; i <= 5; i++) logger.log(`line ${i}`, 'Spec');
    logger.warn('line 6', 'Spec');
    logger.debug('line 7', 'Spec');
    expect(streams.writes).toEqual([]);
    await nextTurn();
    expect(streams.writes).toHaveLength(1);
    expect(streams.writes[0][0]).toBe('stdout');
    expect(msgs(streams.writes[0][1])).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7']);
    logger.log('next turn', 'Spec');
    await nextTurn();
    expect(streams.writes.map(([, text]) => msgs(text))).toEqual([expect.any(Array), ['next turn']]);
  });

  it('writes an error or fatal line at once, after the lines buffered before it', () => {
    const logger = new SafeConsoleLogger({ json: true });
    logger.log('before 1', 'Spec');
    logger.log('before 2', 'Spec');
    logger.error('it broke', 'Error: it broke\n    at spec', 'Spec');
    expect(streams.writes.map(([stream, text]) => [stream, msgs(text)])).toEqual([
      ['stdout', ['before 1', 'before 2']],
      ['stderr', ['it broke']],
    ]);
    logger.log('before 3', 'Spec');
    logger.fatal('gone', 'Spec');
    expect(streams.writes.slice(2).map(([stream, text]) => [stream, msgs(text)])).toEqual([
      ['stdout', ['before 3']],
      ['stdout', ['gone']],
    ]);
  });

  it('leaves text mode (LOG_FORMAT=pretty) one write per line, as it happens', () => {
    const logger = new SafeConsoleLogger({ colors: false });
    logger.log('first', 'Spec');
    logger.log('second', 'Spec');
    expect(streams.writes.map(([, text]) => text)).toEqual([expect.stringContaining('first'), expect.stringContaining('second')]);
  });
});

describe('SafeConsoleLogger (LOG_FORMAT=json) at the end of a process', () => {
  /** Runs a few lines of script in a node process of its own, with this module loaded as `logger` (json). */
  function runChild(script: string, stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe']) {
    const prelude = `const { SafeConsoleLogger } = require(${JSON.stringify(join(__dirname, 'log-safe'))}); const logger = new SafeConsoleLogger({ json: true });`;
    return spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', `${prelude}\n${script}`], {
      cwd: join(__dirname, '../..'),
      encoding: 'utf8',
      stdio,
      timeout: 20_000,
    });
  }

  it('writes what is buffered when the process exits in the same turn (process.exit)', () => {
    const child = runChild(`logger.log('draining', 'Bootstrap'); logger.log('stopped', 'Bootstrap'); process.exit(0);`);
    expect(child.status).toBe(0);
    expect(child.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line).msg)).toEqual(['draining', 'stopped']);
  }, 30_000);

  it('writes what is buffered before Node prints an uncaught exception thrown in the same turn', () => {
    // One file for both streams: it shows the order in which they were written.
    const dir = mkdtempSync(join(tmpdir(), 'log-safe-'));
    const fd = openSync(join(dir, 'out'), 'w');
    try {
      const child = runChild(`logger.log('last words', 'Spec'); throw new Error('crash after logging');`, ['ignore', fd, fd]);
      expect(child.status).toBe(1);
      const output = readFileSync(join(dir, 'out'), 'utf8');
      expect(output).toContain('"msg":"last words"');
      expect(output.indexOf('"msg":"last words"')).toBeLessThan(output.indexOf('crash after logging'));
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
