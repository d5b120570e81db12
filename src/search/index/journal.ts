import { open, type FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';

/**
 * One journal file: CRC-framed lines, appended, each made durable with fdatasync before
 * the writes it carries are acknowledged. A line is `<crc32 of the JSON, 8 hex digits> <JSON>\n`;
 * JSON never holds a raw newline, so a line is a record, and a crash can only leave the
 * last one short or wrong: that record was never acknowledged and is dropped at open.
 */

// zlib.crc32 arrived in Node 20.15; package.json allows 20.12, so a table stands in below it.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib and gzip compute it), by table. */
export function tableCrc32(data: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export const crc32: (data: Uint8Array) => number = nativeCrc32 ?? tableCrc32;

/**
 * Writes all of `data` (at `position`, when given). On a disk that fills up, write(2) takes
 * what fits and reports it only in `bytesWritten` (the next call fails with ENOSPC): a single
 * FileHandle.write would leave the rest out and say nothing.
 */
export async function writeFully(handle: Pick<FileHandle, 'write'>, data: Uint8Array, position?: number): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position === undefined ? undefined : position + offset);
    if (bytesWritten <= 0) throw Object.assign(new Error(`write made no progress at byte ${offset} of ${data.length}`), { code: 'EIO' });
    offset += bytesWritten;
  }
}

const NEWLINE = 0x0a;
const CRC_CHARS = 8;

/** A record as one line: the JSON is encoded once, straight into the buffer that is written. */
export function encodeRecord(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const line = Buffer.allocUnsafe(CRC_CHARS + 1 + length + 1);
  line.write(' ', CRC_CHARS, 'latin1');
  line.write(json, CRC_CHARS + 1, 'utf8');
  line[line.length - 1] = NEWLINE;
  line.write(crc32(line.subarray(CRC_CHARS + 1, line.length - 1)).toString(16).padStart(CRC_CHARS, '0'), 0, 'latin1');
  return line;
}

/** The record's value, or the reason it is not one (a torn write, a flipped bit). */
export function decodeRecord(line: Buffer): { value: unknown } | { damage: string } {
  if (line.length < CRC_CHARS + 2 || line[CRC_CHARS] !== 0x20) return { damage: 'not a journal record' };
  const json = line.subarray(CRC_CHARS + 1);
  if (crc32(json).toString(16).padStart(CRC_CHARS, '0') !== line.toString('latin1', 0, CRC_CHARS)) return { damage: 'checksum mismatch' };
  try {
    return { value: JSON.parse(json.toString('utf8')) };
  } catch (error) {
    return { damage: (error as Error).message };
  }
}

/**
 * Calls `onLine` with each newline-terminated line of the file (without the newline), its
 * 1-based number and the byte offset just past it; resolves with the bytes after the last
 * newline (empty when the file ends with one). Lines are handed over as bytes, so a checksum
 * sees exactly what was written, and never more than one line is held beyond the read chunk.
 */
export async function readLines(handle: FileHandle, onLine: (line: Buffer, lineNumber: number, end: number) => void): Promise<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  let offset = 0; // file offset of carry[0]
  let lineNumber = 0;
  for await (const chunk of handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let newline = data.indexOf(NEWLINE); newline !== -1; newline = data.indexOf(NEWLINE, start)) {
      onLine(data.subarray(start, newline), ++lineNumber, offset + newline + 1);
      start = newline + 1;
    }
    carry = data.subarray(start);
    offset += start;
  }
  return carry;
}

export interface JournalDamage {
  /** 1-based line of the damaged record. */
  line: number;
  reason: string;
}

/** What reading a journal found: the whole records, where they end, and the torn last record if any. */
export interface JournalScan {
  records: number;
  /** Bytes up to the end of the last whole record: where the next one goes. */
  validBytes: number;
  /** The last record, cut short or failing its checksum: never acknowledged, dropped. */
  torn?: JournalDamage;
}

/**
 * Reads every record in order. A damaged record followed by another is damage no crash
 * of ours produces (a record is written only after the one before it is durable): `onDamage`
 * decides (the store refuses to boot). A damaged last record is reported as `torn`.
 */
export async function scanJournal(
  handle: FileHandle,
  onRecord: (value: unknown, line: number) => void,
  onDamage: (damage: JournalDamage) => never,
): Promise<JournalScan> {
  let pending: JournalDamage | undefined;
  let validBytes = 0;
  let records = 0;
  const tail = await readLines(handle, (line, lineNumber, end) => {
    if (pending) onDamage(pending);
    const decoded = decodeRecord(line);
    if ('damage' in decoded) {
      pending = { line: lineNumber, reason: decoded.damage };
      return;
    }
    onRecord(decoded.value, lineNumber);
    records++;
    validBytes = end;
  });
  if (pending && tail.length > 0) onDamage(pending);
  const torn = pending ?? (tail.length > 0 ? { line: records + 1, reason: `the last ${tail.length} bytes end without a newline` } : undefined);
  return { records, validBytes, ...(torn && { torn }) };
}

/**
 * The journal file being appended to. Appends are positional, so after a failed one the file
 * is cut back to where it was and the next append lands there: nothing of a refused write
 * stays in the file for a later boot to find.
 */
export class JournalWriter {
  /** Set when a failed append could not be cut back: every append retries the cut first. */
  private damaged?: Error;

  private constructor(
    private readonly handle: FileHandle,
    private length: number,
  ) {}

  /** Opens a journal for appending at `validBytes`, dropping anything after it (a torn record) durably. */
  static async open(file: string, validBytes: number): Promise<JournalWriter> {
    const handle = await open(file, 'r+');
    try {
      const { size } = await handle.stat();
      if (size !== validBytes) {
        await handle.truncate(validBytes);
        await handle.datasync();
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new JournalWriter(handle, validBytes);
  }

  /** Creates a new, empty journal whose first record is `header`, durably (the directory is the caller's to sync). */
  static async create(file: string, header: string): Promise<JournalWriter> {
    const handle = await open(file, 'wx', 0o600);
    const writer = new JournalWriter(handle, 0);
    try {
      await writer.append(encodeRecord(header));
    } catch (error) {
      await handle.close();
      throw error;
    }
    return writer;
  }

  get bytes(): number {
    return this.length;
  }

  /** Appends one record; resolves once it is on disk. On failure the file is as it was before. */
  async append(record: Buffer): Promise<void> {
    if (this.damaged) await this.rollBack(this.damaged);
    try {
      await writeFully(this.handle, record, this.length);
      await this.handle.datasync();
    } catch (error) {
      await this.rollBack(error as Error).catch(() => undefined);
      throw error;
    }
    this.length += record.length;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Cuts the file back to its acknowledged length, durably; shrinking needs no free space. */
  private async rollBack(cause: Error): Promise<void> {
    try {
      await this.handle.truncate(this.length);
      await this.handle.datasync();
      this.damaged = undefined;
    } catch (error) {
      this.damaged = cause;
      throw Object.assign(new Error(`the journal could not be cut back after a failed write: ${(error as Error).message}`), {
        code: (error as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException).code,
      });
    }
  }
}
