/**
 * Reads typed values out of an environment map and collects every problem
 * instead of stopping at the first, so one boot failure names every bad variable.
 */
export class EnvReader {
  readonly problems: string[] = [];
  /** Every variable asked for, so tests can hold the documentation to the code. */
  readonly names = new Set<string>();

  constructor(private readonly env: Record<string, string | undefined>) {}

  raw(name: string): string | undefined {
    this.names.add(name);
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number, unit = ''): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(name, raw, `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`);
      return fallback;
    }
    return value;
  }

  /** A finite decimal number, or undefined when unset. */
  decimal(name: string, min: number, unit = ''): number | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value) || value < min) {
      this.fail(name, raw, `a number ≥ ${min}${unit ? ` (${unit})` : ''}`);
      return undefined;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    this.fail(name, raw, 'true or false');
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.fail(name, raw, `one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** An http(s) URL without credentials; trailing slashes are dropped. */
  url(name: string, fallback: string, value = this.raw(name)): string {
    if (value === undefined) return fallback;
    try {
      const url = new URL(value);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      if (url.username || url.password) {
        this.fail(name, '<redacted>', 'an http(s) URL without credentials (put keys in *_API_KEY)');
        return fallback;
      }
      return url.toString().replace(/\/+$/, '');
    } catch {
      this.fail(name, value, 'an http:// or https:// URL');
      return fallback;
    }
  }

  /** A comma-separated list, empty entries dropped. */
  list(name: string): string[] {
    return (this.raw(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }

  fail(name: string, value: string, expected: string): void {
    this.problems.push(`${name}=${JSON.stringify(value)}: expected ${expected}`);
  }
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((problem) => `  - ${problem}`).join('\n'),
    );
    this.name = 'ConfigValidationError';
  }
}

/** Runs a parser and throws one error naming every bad variable it found. */
export function parseOrThrow<T>(env: Record<string, string | undefined>, parse: (reader: EnvReader) => T): T {
  const reader = new EnvReader(env);
  const value = parse(reader);
  if (reader.problems.length > 0) throw new ConfigValidationError(reader.problems);
  return value;
}
