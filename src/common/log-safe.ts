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

/**
 * Nest's console logger with every message and stack passed through logSafe, so no log site, ours
 * or Nest's, can write caller- or upstream-controlled text raw. A stack becomes one line too.
 */
export class SafeConsoleLogger extends ConsoleLogger {
  protected printMessages(messages: unknown[], context?: string, logLevel?: LogLevel, writeStreamType?: 'stdout' | 'stderr', errorStack?: unknown): void {
    const safe = messages.map((message) => (typeof message === 'string' ? logSafe(message) : message));
    super.printMessages(safe, context, logLevel, writeStreamType, typeof errorStack === 'string' ? logSafe(errorStack) : errorStack);
  }

  protected printStackTrace(stack: string): void {
    super.printStackTrace(stack ? logSafe(stack) : stack);
  }
}
