import { appendFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, decodeRecord, tableCrc32, encodeRecord, JournalWriter, scanJournal, type JournalDamage } from './journal';

describe('journal records', () => {
  it('checksums with CRC-32 (IEEE), the table fallback giving the same values as zlib', () => {
    for (const checksum of [crc32, tableCrc32]) {
      expect(checksum(Buffer.from('123456789'))).toBe(0xcbf43926);
      expect(checksum(Buffer.from(''))).toBe(0);
    }
    const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
    expect(tableCrc32(random)).toBe(crc32(random));
  });

  it('frames a record as "<crc> <json>\\n" and reads it back, unicode and escaped newlines included', () => {
    const line = encodeRecord(JSON.stringify({ text: 'line one\nline two ünïcode 🙂' }));
    expect(line.at(-1)).toBe(0x0a);
    expect(line.subarray(0, -1).includes(0x0a)).toBe(false);
    expect(decodeRecord(line.subarray(0, -1))).toEqual({ value: { text: 'line one\nline two ünïcode 🙂' } });
  });

  it('tells a flipped bit and a cut record from a record', () => {
    const line = encodeRecord('{"ops":[]}').subarray(0, -1);
    const flipped = Buffer.from(line);
    flipped[flipped.length - 2] ^= 0x01;
    expect(decodeRecord(flipped)).toEqual({ damage: 'checksum mismatch' });
    expect(decodeRecord(line.subarray(0, 12))).toEqual({ damage: 'checksum mismatch' });
    expect(decodeRecord(Buffer.from('garbage'))).toEqual({ damage: 'not a journal record' });
  });
});

describe('scanJournal and JournalWriter', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'journal-'));
    file = join(dir, 'j');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function scan() {
    const values: unknown[] = [];
    const handle = await open(file, 'r');
    try {
      const result = await scanJournal(
        handle,
        (value) => values.push(value),
        (damage: JournalDamage) => {
          throw new Error(`damaged at line ${damage.line}: ${damage.reason}`);
        },
      );
      return { ...result, values };
    } finally {
      await handle.close();
    }
  }

  it('appends records durably and reads them back in order', async () => {
    const writer = await JournalWriter.create(file, '{"h":1}');
    await writer.append(encodeRecord('{"n":1}'));
    await writer.append(encodeRecord('{"n":2}'));
    await writer.close();
    expect(await scan()).toEqual({ records: 3, validBytes: writer.bytes, values: [{ h: 1 }, { n: 1 }, { n: 2 }] });
  });

  it.each([
    ['cut short (no newline)', (whole: Buffer) => whole.subarray(0, 20)],
    ['whole length but a wrong checksum', (whole: Buffer) => Buffer.concat([Buffer.from('00000000'), whole.subarray(8)])],
    ['zeros where the data should be', (whole: Buffer) => Buffer.alloc(whole.length)],
  ])('reports a last record %s as torn, with the bytes before it valid', async (_, damage) => {
    const writer = await JournalWriter.create(file, '{"h":1}');
    await writer.append(encodeRecord('{"n":1}'));
    await writer.close();
    await appendFile(file, damage(encodeRecord('{"n":2,"pad":"xxxxxxxxxxxxxxxxxxxxxx"}')));
    const result = await scan();
    expect(result).toMatchObject({ records: 2, validBytes: writer.bytes, values: [{ h: 1 }, { n: 1 }], torn: { line: 3 } });

    // Opening for append cuts the torn record away, so the next record follows the last whole one.
    const reopened = await JournalWriter.open(file, result.validBytes);
    await reopened.append(encodeRecord('{"n":3}'));
    await reopened.close();
    expect(await scan()).toMatchObject({ records: 3, values: [{ h: 1 }, { n: 1 }, { n: 3 }] });
    expect(await scan()).not.toHaveProperty('torn');
  });

  it('calls a damaged record followed by whole ones damage, not a torn tail', async () => {
    const writer = await JournalWriter.create(file, '{"h":1}');
    await writer.append(encodeRecord('{"n":1}'));
    await writer.append(encodeRecord('{"n":2}'));
    await writer.close();
    const bytes = await readFile(file);
    bytes[bytes.indexOf('"n":1') + 4] = '7'.charCodeAt(0);
    await writeFile(file, bytes);
    await expect(scan()).rejects.toThrow('damaged at line 2: checksum mismatch');
  });

  it('reads a record larger than a read chunk', async () => {
    const writer = await JournalWriter.create(file, '{"h":1}');
    const big = 'x'.repeat(3 << 20);
    await writer.append(encodeRecord(JSON.stringify({ big })));
    await writer.close();
    const result = await scan();
    expect(result.records).toBe(2);
    expect((result.values[1] as { big: string }).big).toHaveLength(big.length);
  });
});
