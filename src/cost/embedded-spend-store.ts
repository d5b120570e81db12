import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { rowKey, type BudgetTotals, type Reservation, type ReserveResult, type SpendRow, type SpendStore } from './spend-store';

// Rewrite the journal as one line per row at boot once it holds this many lines more than rows.
const COMPACT_SLACK_LINES = 10_000;
// The journal is fsynced at most this often: a process crash (kill -9) loses nothing (each line is
// written before its call is answered, and the page cache outlives the process); a power loss may
// lose the last second of spend, which was recorded after the calls it bills.
const FSYNC_EVERY_MS = 1_000;

/**
 * Spend for one process (no DATABASE_URL): rows and reservations in memory, every settled call
 * appended to a JSON-lines journal (LLM_LEDGER_FILE) that is read back at boot, so a restart keeps
 * the month's spend. Reservations are in-process: the check and the hold happen in one synchronous
 * step, which the event loop makes atomic. Not for several processes sharing one file.
 */
export class EmbeddedSpendStore implements SpendStore {
  readonly kind = 'embedded' as const;
  private readonly logger = new Logger('SpendLedger');
  private readonly rowsByKey = new Map<string, SpendRow>();
  private readonly reservations = new Map<string, Reservation & { expiresAt: number }>();
  private fd?: number;
  private dirty = false;
  private fsyncTimer?: NodeJS.Timeout;
  private failedWrites = 0;
  private batches = 0;
  /** Lines settled in this event-loop turn, written together when the turn ends. */
  private batch?: { lines: string[]; written: Promise<void>; done: () => void; immediate: NodeJS.Immediate };
  /** The file ends in a partial line (a crash or a failed write cut it): the next write ends it first. */
  private tornTail = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    this.load(file);
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, 'a');
    this.fsyncTimer = setInterval(() => this.flush(), FSYNC_EVERY_MS);
    this.fsyncTimer.unref();
  }

  async reserve(month: string, usd: number, limitUsd: number, ttlMs: number): Promise<ReserveResult> {
    // No await between the check and the hold: concurrent calls cannot both see the same headroom.
    const { spentUsd, reservedUsd } = this.totalsNow(month);
    if (spentUsd + reservedUsd + usd > limitUsd || spentUsd + reservedUsd >= limitUsd) return { refused: { spentUsd, reservedUsd } };
    const reservation = { id: randomUUID(), month, usd, expiresAt: Date.now() + ttlMs };
    this.reservations.set(reservation.id, reservation);
    return { reservation: { id: reservation.id, month, usd } };
  }

  async settle(row: SpendRow, reservation?: Reservation): Promise<void> {
    if (reservation) this.reservations.delete(reservation.id);
    this.add(row);
    return this.append(row);
  }

  async release(reservation: Reservation): Promise<void> {
    this.reservations.delete(reservation.id);
  }

  async rows(month: string): Promise<SpendRow[]> {
    return [...this.rowsByKey.values()].filter((row) => row.month === month).map((row) => ({ ...row }));
  }

  async totals(month: string): Promise<BudgetTotals> {
    return this.totalsNow(month);
  }

  /** Lines that could not be written (disk full, file gone): that spend is counted in memory only. */
  get journalWriteFailures(): number {
    return this.failedWrites;
  }

  /** Writes to the journal: one per event-loop turn in which calls settled, however many did. */
  get journalBatches(): number {
    return this.batches;
  }

  /** Nest calls it at shutdown (the store is a provider); the last lines are synced. */
  onApplicationShutdown(): void {
    clearInterval(this.fsyncTimer);
    this.writeBatch();
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private totalsNow(month: string): BudgetTotals {
    const now = Date.now();
    let reservedUsd = 0;
    let reservations = 0;
    for (const [id, reservation] of this.reservations) {
      if (reservation.expiresAt <= now) this.reservations.delete(id);
      else if (reservation.month === month) {
        reservedUsd += reservation.usd;
        reservations++;
      }
    }
    let spentUsd = 0;
    for (const row of this.rowsByKey.values()) if (row.month === month) spentUsd += row.costUsd;
    return { spentUsd, reservedUsd, reservations };
  }

  private add(row: SpendRow): void {
    const key = rowKey(row);
    const sum = this.rowsByKey.get(key);
    if (!sum) {
      this.rowsByKey.set(key, { ...row });
      return;
    }
    sum.requests += row.requests;
    sum.promptTokens += row.promptTokens;
    sum.completionTokens += row.completionTokens;
    sum.estimatedUsage += row.estimatedUsage;
    sum.costUsd += row.costUsd;
  }

  /**
   * Group commit: a write(2) costs more than the rest of a settle on a busy VM (~4.5 % of the service's
   * CPU at c=32, about 5 calls settling per turn), so the lines settled in one event-loop turn go out in
   * one write at its end. Each settle resolves only after that write, so a call is still answered only
   * once its line is in the page cache.
   */
  private append(row: SpendRow): Promise<void> {
    if (this.fd === undefined) return Promise.resolve();
    if (!this.batch) {
      let done!: () => void;
      const written = new Promise<void>((resolve) => (done = resolve));
      this.batch = { lines: [], written, done, immediate: setImmediate(() => this.writeBatch()) };
    }
    this.batch.lines.push(`${JSON.stringify(row)}\n`);
    return this.batch.written;
  }

  /** Whole lines in one write, so a crash or a failed write tears at most the last one (skipped at boot). */
  private writeBatch(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    clearImmediate(batch.immediate);
    const start = this.tornTail ? 1 : 0;
    const data = Buffer.from((start ? '\n' : '') + batch.lines.join(''));
    let written = 0;
    try {
      while (written < data.length) written += writeSync(this.fd!, data, written, data.length - written);
      this.dirty = true;
      this.tornTail = false;
    } catch (error) {
      const lost = batch.lines.length - newlinesIn(data, start, written);
      this.failedWrites += lost;
      if (written > 0) {
        this.dirty = true;
        this.tornTail = data[written - 1] !== 0x0a;
      }
      this.logger.error(`spend of ${lost} call(s) could not be written to LLM_LEDGER_FILE (${this.file}): ${(error as Error).message}; it is counted in memory only`);
    }
    this.batches++;
    batch.done();
  }

  private flush(): void {
    if (!this.dirty || this.fd === undefined) return;
    this.dirty = false;
    try {
      fsyncSync(this.fd);
    } catch (error) {
      this.logger.error(`LLM_LEDGER_FILE (${this.file}) could not be synced: ${(error as Error).message}`);
    }
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`LLM_LEDGER_FILE (${file}) cannot be read: ${(error as Error).message}`);
    }
    let lines = 0;
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      lines++;
      const row = parseRow(line);
      if (row) this.add(row);
      else skipped++;
    }
    // A line cut by a crash mid-write is the only expected damage: its call is lost, the rest is kept.
    if (skipped > 0) this.logger.warn(`LLM_LEDGER_FILE (${file}): ${skipped} unreadable line(s) skipped`);
    if (lines > this.rowsByKey.size + COMPACT_SLACK_LINES) this.compact(file);
    // Ended before the next write, or the torn line would swallow that write's first line.
    else this.tornTail = text !== '' && !text.endsWith('\n');
  }

  /** Rewrites the journal as one line per row: temp file, fsync, rename, so a crash leaves the old or the new one. */
  private compact(file: string): void {
    const temp = `${file}.compact`;
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, [...this.rowsByKey.values()].map((row) => `${JSON.stringify(row)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  }
}

/** Newlines in data[from, to): the lines of a failed write that did reach the file whole. */
function newlinesIn(data: Buffer, from: number, to: number): number {
  let count = 0;
  for (let at = data.indexOf(0x0a, from); at !== -1 && at < to; at = data.indexOf(0x0a, at + 1)) count++;
  return count;
}

function parseRow(line: string): SpendRow | undefined {
  let value: Partial<SpendRow>;
  try {
    value = JSON.parse(line) as Partial<SpendRow>;
  } catch {
    return undefined;
  }
  const texts = [value.month, value.upstream, value.model, value.caller];
  const counts = [value.requests, value.promptTokens, value.completionTokens, value.estimatedUsage, value.costUsd];
  if (!texts.every((text) => typeof text === 'string')) return undefined;
  if (!counts.every((count) => typeof count === 'number' && Number.isFinite(count) && count >= 0)) return undefined;
  return value as SpendRow;
}
