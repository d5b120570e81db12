import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { redact } from './redact';

// Line breaks (CR, LF, NEL, U+2028/9) would let a caller forge a log line; other C0/C1 controls
// (ESC above all) rewrite a terminal; bidi overrides make a line read differently than it is.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\r': '\\r', '\n': '\\n', '\t': '\\t' };

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  return NAMED[char] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/**
 * Text made safe for one log line: control characters escaped (a CRLF in a model name stays
 * visible as `\r\n` and cannot start a forged line) and every known secret redacted.
 */
export function logSafe(text: string): string {
  return redact(text).replace(UNSAFE, escapeChar);
}

// What JSON.stringify leaves as it is but a log viewer may break a line on or render misleadingly.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const jsonEscape = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
// Nest calls the info level `log`; a log pipeline expects `info`.
const LEVEL_NAMES: Partial<Record<LogLevel, string>> = { log: 'info' };

/** Structured fields of one log line (the access log's), written as JSON fields or as `key=value` text. */
export type LogFields = Record<string, string | number | boolean | undefined | null>;

function isFields(message: unknown): message is LogFields {
  return typeof message === 'object' && message !== null && !Array.isArray(message) && !(message instanceof Error);
}

/** `key=value` pairs for a person reading a terminal; values with spaces or quotes are JSON-quoted. */
function logfmt(fields: LogFields): string {
  let line = '';
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined || value === null) continue;
    const text = String(value);
    line += `${line ? ' ' : ''}${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}

/**
 * One JSON object a line: `time`, `level`, `context`, then either the fields of a structured message
 * (the access log's) or `msg`, and `stack` for an error. JSON already escapes CR, LF and the other
 * C0 controls; the line is then scrubbed of secrets and of the characters JSON leaves raw.
 */
export function jsonLogLine(message: unknown, level: LogLevel, context?: string, stack?: unknown): string {
  const head = `{"time":"${new Date().toISOString()}","level":"${LEVEL_NAMES[level] ?? level}"${context ? `,"context":${JSON.stringify(context)}` : ''}`;
  let body: string;
  if (isFields(message)) {
    const json = JSON.stringify(message);
    body = json === '{}' ? '' : `,${json.slice(1, -1)}`;
  } else {
    const text = message instanceof Error ? (message.stack ?? message.message) : typeof message === 'string' ? message : String(message);
    body = `,"msg":${JSON.stringify(text)}`;
  }
  if (typeof stack === 'string' && stack) body += `,"stack":${JSON.stringify(stack)}`;
  return `${redact(`${head}${body}}`).replace(UNSAFE_IN_JSON, jsonEscape)}\n`;
}

type LogStream = 'stdout' | 'stderr';

/**
 * JSON lines waiting for the end of this event-loop turn, per stream. stdout is a pipe in a container (and in
 * the bench), and Node writes a pipe synchronously on Linux, one write(2) per call: at c=32 about 5 requests
 * finish per turn, and one write per access line was ~3 % of the service's CPU (issue #13). One write per
 * stream per turn keeps the lines in order and costs one syscall for the lot: 200k access lines, 5 a turn,
 * into a pipe took 2.1 s of CPU (0.8 s in the kernel) written one by one, 1.1 s (0.3 s) batched.
 */
const pending: Record<LogStream, string> = { stdout: '', stderr: '' };
let flushScheduled = false;
let exitHooked = false;
// Taken at load: a spec's fake timers must not hold the service's log lines back.
const nextTurn = setImmediate;

/**
 * Writes every line the logger still holds, now and synchronously (pipes, files and TTYs are written
 * synchronously on Linux). The process flushes on exit by itself; tests call it to read what was logged so far.
 */
export function flushLogs(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const lines = pending[name];
    if (!lines) continue;
    pending[name] = '';
    process[name].write(lines);
  }
}

/**
 * `now` (error and fatal) writes at once, after everything buffered on both streams: a crash right after an
 * error line still leaves it, and a log collector that merges stdout and stderr sees the lines in order.
 */
function writeLines(stream: LogStream, lines: string, now: boolean): void {
  if (now) {
    flushLogs();
    process[stream].write(lines);
    return;
  }
  pending[stream] += lines;
  if (flushScheduled) return;
  flushScheduled = true;
  if (!exitHooked) {
    // Once per process, not per logger: Nest and the tests build several. `exit` covers a normal end and
    // process.exit() (main.ts's shutdown logs 'stopped' and exits in the same turn); the monitor runs before Node
    // prints an uncaught exception or rejection, so our last lines come before its stack, not after or never.
    exitHooked = true;
    process.on('exit', flushLogs);
    process.on('uncaughtExceptionMonitor', flushLogs);
  }
  nextTurn(() => {
    flushScheduled = false;
    flushLogs();
  });
}

/**
 * Nest's console logger with every message and stack passed through logSafe, so no log site, ours
 * or Nest's, can write caller- or upstream-controlled text raw. A stack becomes one line too.
 * With `json: true` (LOG_FORMAT=json) each line is one JSON object (jsonLogLine) instead, written once per
 * event-loop turn (writeLines). Text (LOG_FORMAT=pretty) stays one write per line, as Nest writes it: it is
 * for a person at a terminal, who should see a line when it happens, and is not what production runs.
 */
export class SafeConsoleLogger extends ConsoleLogger {
  protected printMessages(messages: unknown[], context?: string, logLevel: LogLevel = 'log', writeStreamType?: 'stdout' | 'stderr', errorStack?: unknown): void {
    if (this.options.json) {
      let lines = '';
      for (const message of messages) lines += jsonLogLine(message, logLevel, context, errorStack);
      writeLines(writeStreamType ?? 'stdout', lines, logLevel === 'error' || logLevel === 'fatal');
      return;
    }
    const safe = messages.map((message) => (typeof message === 'string' ? logSafe(message) : isFields(message) ? logSafe(logfmt(message)) : message));
    super.printMessages(safe, context, logLevel, writeStreamType, typeof errorStack === 'string' ? logSafe(errorStack) : errorStack);
  }

  protected printStackTrace(stack: string): void {
    super.printStackTrace(stack ? logSafe(stack) : stack);
  }
}
