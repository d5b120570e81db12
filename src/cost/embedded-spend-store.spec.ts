import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { EmbeddedSpendStore } from './embedded-spend-store';
import type { SpendRow } from './spend-store';

const MONTH = '2026-03';
const row = (caller: string, costUsd = 0.01): SpendRow => ({
  month: MONTH,
  upstream: 'sim',
  model: 'sim-1',
  caller,
  requests: 1,
  promptTokens: 3,
  completionTokens: 5,
  estimatedUsage: 0,
  costUsd,
});
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** The journal's group commit, observed in the file itself. */
describe('EmbeddedSpendStore journal', () => {
  let dir: string;
  let file: string;
  let store: EmbeddedSpendStore | undefined;
  const open = () => (store = new EmbeddedSpendStore(file));
  const callers = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as SpendRow).caller);

  beforeEach(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'llm-spend-store-')));
    file = join(dir, 'spend.jsonl');
  });
  afterEach(() => {
    store?.onApplicationShutdown();
    store = undefined;
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the calls settled in one event-loop turn with one write, in order, after the turn', async () => {
    const ledger = open();
    const settled = Array.from({ length: 20 }, (_, i) => ledger.settle(row(`key-${i}`)));
    // Counted at once (reserve() reads it), written once the turn ends.
    expect((await ledger.totals(MONTH)).spentUsd).toBeCloseTo(0.2, 9);
    expect(readFileSync(file, 'utf8')).toBe('');
    await Promise.all(settled);
    expect(callers()).toEqual(Array.from({ length: 20 }, (_, i) => `key-${i}`));
    expect(ledger.journalBatches).toBe(1);

    await ledger.settle(row('key-20'));
    expect(ledger.journalBatches).toBe(2);
  });

  it('resolves settle only once its line is in the file', async () => {
    const ledger = open();
    for (let i = 0; i < 3; i++) {
      await ledger.settle(row(`key-${i}`));
      expect(callers()).toEqual(Array.from({ length: i + 1 }, (_, j) => `key-${j}`));
    }
  });

  it('still resolves settle when the write fails, counts the lost lines and keeps them in memory', async () => {
    const errors: string[] = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => void errors.push(String(message)));
    const ledger = open();
    // Swap the journal's descriptor for /dev/full (POSIX gives the lowest free number): every write is ENOSPC.
    const fd = Number(readdirSync('/proc/self/fd').find((entry) => readlinkOrNone(`/proc/self/fd/${entry}`) === file));
    closeSync(fd);
    expect(openSync('/dev/full', 'w')).toBe(fd);

    await Promise.all([ledger.settle(row('key-1')), ledger.settle(row('key-2'))]);
    expect(ledger.journalWriteFailures).toBe(2);
    expect(errors).toEqual([expect.stringMatching(/spend of 2 call\(s\) could not be written .*ENOSPC/)]);
    expect((await ledger.totals(MONTH)).spentUsd).toBeCloseTo(0.02, 9);
  });

  it('writes the batch of the current turn at shutdown, before the file is closed', async () => {
    const ledger = open();
    const settled = [ledger.settle(row('key-1')), ledger.settle(row('key-2'))];
    ledger.onApplicationShutdown();
    expect(callers()).toEqual(['key-1', 'key-2']);
    await Promise.all(settled);
    await nextTurn();
    expect(ledger.journalBatches).toBe(1);
  });

  it('skips a torn last line at boot and ends it before the next write, so the next line survives', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    writeFileSync(file, `${JSON.stringify(row('key-1'))}\n{"month":"2026-`);
    const first = open();
    expect((await first.totals(MONTH)).spentUsd).toBeCloseTo(0.01, 9);
    await first.settle(row('key-2'));
    first.onApplicationShutdown();

    const second = open();
    expect((await second.rows(MONTH)).map((spend) => spend.caller).sort()).toEqual(['key-1', 'key-2']);
  });
});

function readlinkOrNone(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined; // the directory's own descriptor is gone by the time it is read
  }
}
