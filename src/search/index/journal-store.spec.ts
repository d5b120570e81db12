import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredDocument } from '../search.types';
import { IndexFileError, serializeDocument } from './index-store';
import { encodeRecord } from './journal';
import { deleteOperation, JournalStore, putOperation, readIndexedIds, type ReplayOperation } from './journal-store';

/** The documents a store's files replay to, kept the way DocumentIndex keeps them (one Map). */
class Documents {
  readonly byId = new Map<string, StoredDocument>();
  apply = (operation: ReplayOperation) => {
    if ('put' in operation) this.byId.set(operation.put.id, operation.put);
    else if ('del' in operation) this.byId.delete(operation.del);
  };
}

const doc = (id: string, text = `text of ${id}`): StoredDocument => ({ id, text, metadata: {} });

describe('JournalStore', () => {
  let dir: string;
  const open: JournalStore[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'journal-store-'));
  });
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function boot() {
    const documents = new Documents();
    const store = new JournalStore(dir, undefined, () => [...documents.byId.values()]);
    open.push(store);
    await store.prepare();
    const summary = await store.load(documents.apply);
    return { store, documents, summary };
  }

  /** What a commit does: append, then apply. */
  async function put(store: JournalStore, documents: Documents, ...batch: StoredDocument[]) {
    await store.append({ operations: batch.map((d) => putOperation(serializeDocument(d))), obsoleteBytes: 0 });
    for (const d of batch) documents.byId.set(d.id, d);
  }

  async function remove(store: JournalStore, documents: Documents, id: string) {
    await store.append({ operations: [deleteOperation(id)], obsoleteBytes: 0 });
    documents.byId.delete(id);
  }

  it('starts empty, then replays every appended group in order after a restart', async () => {
    const first = await boot();
    expect(first.summary).toEqual({ found: false, snapshotDocuments: 0, journalRecords: 0, tornRecords: 0 });
    await put(first.store, first.documents, doc('a'), doc('b'));
    await remove(first.store, first.documents, 'a');
    await put(first.store, first.documents, doc('b', 'replaced'));
    await first.store.close();
    open.length = 0;

    const second = await boot();
    expect(second.summary).toEqual({ found: true, snapshotDocuments: 0, journalRecords: 3, tornRecords: 0 });
    expect([...second.documents.byId.values()]).toEqual([doc('b', 'replaced')]);
    expect(await readdir(dir)).toEqual(['index.journal.0']);
  });

  it('drops a torn last record with a warning and appends after the last whole one', async () => {
    const first = await boot();
    await put(first.store, first.documents, doc('kept'));
    await first.store.close();
    open.length = 0;
    // A crash in the middle of the next append: part of a record, no newline.
    await appendFile(join(dir, 'index.journal.0'), encodeRecord(JSON.stringify({ m: null, ops: [{ del: 'kept' }] })).subarray(0, 15));

    const second = await boot();
    expect(second.summary).toMatchObject({ found: true, journalRecords: 1, tornRecords: 1 });
    expect([...second.documents.byId.keys()]).toEqual(['kept']);
    await put(second.store, second.documents, doc('after'));
    await second.store.close();
    open.length = 0;

    const third = await boot();
    expect(third.summary).toMatchObject({ journalRecords: 2, tornRecords: 0 });
    expect([...third.documents.byId.keys()]).toEqual(['kept', 'after']);
  });

  it('refuses to boot on a damaged record in the middle, naming the file and line', async () => {
    const first = await boot();
    await put(first.store, first.documents, doc('a'));
    await put(first.store, first.documents, doc('b'));
    await first.store.close();
    open.length = 0;
    const file = join(dir, 'index.journal.0');
    await writeFile(file, (await readFile(file, 'utf8')).replace('text of a', 'text of X'));
    const failure = boot();
    await expect(failure).rejects.toBeInstanceOf(IndexFileError);
    await expect(failure).rejects.toThrow(/index\.journal\.0 is not a valid index file \(line 2\): checksum mismatch, and records follow it/);
  });

  it('compacts into a snapshot once the journal outgrows it, keeping writes made meanwhile, and deletes the old journal', async () => {
    const { store, documents } = await boot();
    const bulky = (i: number) => doc(`d${i}`, `${i % 10} `.repeat(40_000));
    for (let i = 0; i < 60; i++) await put(store, documents, bulky(i)); // ~5 MiB: past the 4 MiB floor
    await store.compactIfDue(); // rotates now, writes the snapshot in the background
    expect(await readdir(dir)).toContain('index.journal.1');
    await remove(store, documents, 'd0'); // lands in the new journal while the snapshot is written
    await store.close();
    open.length = 0;

    expect((await readdir(dir)).sort()).toEqual(['index.journal.1', 'index.jsonl']);
    const header = JSON.parse((await readFile(join(dir, 'index.jsonl'), 'utf8')).split('\n')[0]);
    expect(header).toMatchObject({ version: 2, journal: 1, documents: 60 });
    const again = await boot();
    expect(again.summary).toMatchObject({ snapshotDocuments: 60, journalRecords: 1 });
    expect(again.documents.byId.size).toBe(59);
    expect(again.documents.byId.has('d0')).toBe(false);
    expect((await readIndexedIds(dir)).sort()).toEqual([...again.documents.byId.keys()].sort());
  });

  it('replays both journals when a crash came between the rotation and the new snapshot, and deletes journals a snapshot replaced', async () => {
    const record = (ops: unknown[]) => encodeRecord(JSON.stringify({ m: null, ops }));
    const header = (generation: number) => encodeRecord(JSON.stringify({ format: 'llm-service.search-journal', version: 1, generation }));
    await writeFile(join(dir, 'index.jsonl'), `${JSON.stringify({ format: 'llm-service.search-index', version: 2, savedAt: 'x', embeddingModel: null, documents: 1, journal: 3 })}\n${serializeDocument(doc('s'))}\n`);
    await writeFile(join(dir, 'index.journal.2'), Buffer.concat([header(2), record([{ put: doc('already in the snapshot') }])]));
    await writeFile(join(dir, 'index.journal.3'), Buffer.concat([header(3), record([{ put: doc('a') }])]));
    await writeFile(join(dir, 'index.journal.4'), Buffer.concat([header(4), record([{ del: 's' }, { put: doc('b') }])]));
    const { documents, summary } = await boot();
    expect(summary).toMatchObject({ snapshotDocuments: 1, journalRecords: 2 });
    expect([...documents.byId.keys()]).toEqual(['a', 'b']);
    expect((await readdir(dir)).sort()).toEqual(['index.journal.3', 'index.journal.4', 'index.jsonl']);
  });

  it('refuses to boot when a journal generation the snapshot needs is missing', async () => {
    await writeFile(join(dir, 'index.journal.1'), encodeRecord(JSON.stringify({ format: 'llm-service.search-journal', version: 1, generation: 1 })));
    await expect(boot()).rejects.toThrow(/journal generation 0 is missing/);
  });

  it('upgrades a version 1 index (written before journals) to a version 2 snapshot at boot', async () => {
    await writeFile(join(dir, 'index.jsonl'), `${JSON.stringify({ format: 'llm-service.search-index', version: 1, savedAt: 'x', embeddingModel: null, documents: 2 })}\n${serializeDocument(doc('a'))}\n${serializeDocument(doc('b'))}\n`);
    const { documents, summary } = await boot();
    expect(summary).toMatchObject({ found: true, snapshotDocuments: 2 });
    expect([...documents.byId.keys()]).toEqual(['a', 'b']);
    const header = JSON.parse((await readFile(join(dir, 'index.jsonl'), 'utf8')).split('\n')[0]);
    expect(header).toMatchObject({ version: 2, journal: 1, documents: 2 });
    expect((await readdir(dir)).sort()).toEqual(['index.journal.1', 'index.jsonl']);
  });
});
