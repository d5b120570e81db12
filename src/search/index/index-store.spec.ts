import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredDocument } from '../search.types';
import { IndexFileError, IndexStore, writeFully } from './index-store';
import { normalize } from './vector-index';

/** The whole snapshot, collected (the store itself hands documents over one by one). */
async function loadAll(store: IndexStore) {
  const documents: StoredDocument[] = [];
  const info = await store.load((document) => documents.push(document));
  return info && { ...info, documents };
}

describe('IndexStore', () => {
  let dir: string;
  let store: IndexStore;

  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'index-store-')), 'nested', 'search');
    store = new IndexStore(dir);
    await store.prepare();
  });
  afterEach(async () => {
    await rm(join(dir, '..', '..'), { recursive: true, force: true });
  });

  const documents: StoredDocument[] = [
    { id: 'a', title: 'Alpha', text: 'first\nline "quoted" ünïcode', metadata: { lang: 'en', year: 2024, draft: false } },
    { id: 'b', text: 'no title', metadata: {}, vector: normalize([3, 4, 0]) },
  ];

  it('creates its directory and finds no index there at first', async () => {
    expect(await readdir(dir)).toEqual([]);
    expect(await loadAll(store)).toBeUndefined();
  });

  it('loads exactly what it saved: documents, metadata types and float32 vectors', async () => {
    await store.save(documents, 'sim/sim-embed-1', 3);
    const loaded = await loadAll(store);
    expect(loaded?.embeddingModel).toBe('sim/sim-embed-1');
    expect(loaded).toMatchObject({ version: 2, journal: 3 });
    expect(loaded?.documents).toEqual(documents);
    expect(loaded?.documents[1].vector).toBeInstanceOf(Float32Array);
    expect(Array.from(loaded!.documents[1].vector!)).toEqual([0.6000000238418579, 0.800000011920929, 0]);
    expect('title' in loaded!.documents[1]).toBe(false);
  });

  it('round-trips an index larger than one write chunk', async () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ id: `d${i}`, text: `document ${i} `.repeat(400), metadata: { i } }));
    await store.save(many, undefined, 0);
    const loaded = await loadAll(store);
    expect(loaded?.embeddingModel).toBeNull();
    expect(loaded?.documents).toEqual(many);
  });

  it('keeps the previous file whole when a save fails midway, and leaves no temp file', async () => {
    await store.save(documents, undefined, 0);
    const before = await readFile(store.file, 'utf8');
    // JSON cannot encode a BigInt: serialising the second document throws after the first was written.
    const poisoned = [documents[0], { id: 'x', text: 't', metadata: { n: 1n as unknown as number } }];
    await expect(store.save(poisoned, undefined, 0)).rejects.toThrow(/BigInt/);
    expect(await readFile(store.file, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['index.jsonl']);
  });

  it('removes temp files a crashed process left behind, not those of a live one', async () => {
    await store.save(documents, undefined, 0);
    const deadPid = 2 ** 22 + 1; // above Linux's pid_max: never a running process
    await writeFile(join(dir, `index.jsonl.${deadPid}.abc.tmp`), '{"half": ');
    await writeFile(join(dir, `index.jsonl.${process.pid}.def.tmp`), '{"being written": ');
    await writeFile(join(dir, 'unrelated.txt'), 'keep me');
    await store.prepare();
    expect((await readdir(dir)).sort()).toEqual(['index.jsonl', `index.jsonl.${process.pid}.def.tmp`, 'unrelated.txt']);
    expect((await loadAll(store))?.documents).toHaveLength(2);
  });

  it('loads a version 1 index (before journals) as continued by journal generation 0', async () => {
    await writeFile(store.file, '{"format":"llm-service.search-index","version":1,"savedAt":"x","embeddingModel":null,"documents":1}\n{"id":"a","text":"t","metadata":{}}\n');
    expect(await loadAll(store)).toMatchObject({ version: 1, journal: 0, documents: [{ id: 'a', text: 't', metadata: {} }] });
  });

  it.each([
    ['a version 2 header without its journal generation', '{"format":"llm-service.search-index","version":2,"savedAt":"x","embeddingModel":null,"documents":0}\n', /malformed header/],
    ['a last line without its newline', '{"format":"llm-service.search-index","version":2,"savedAt":"x","embeddingModel":null,"documents":1,"journal":0}\n{"id":"a","te', /ends in the middle of a line/],
    ['not JSON', 'garbage\n', /\(line 1\): Unexpected token/],
    ['a foreign file', '{"hello":"world"}\n', /expected a "llm-service.search-index" header/],
    ['a malformed document', '{"format":"llm-service.search-index","version":1,"savedAt":"x","embeddingModel":null,"documents":1}\n{"id":5}\n', /\(line 2\): malformed document/],
    ['a truncated file', '{"format":"llm-service.search-index","version":1,"savedAt":"x","embeddingModel":null,"documents":3}\n{"id":"a","text":"t","metadata":{}}\n', /promises 3 documents, the file holds 1/],
    ['an empty file', '', /the file is empty/],
  ])('refuses %s rather than start empty over it', async (_, content, message) => {
    await writeFile(store.file, content);
    const failure = loadAll(store);
    await expect(failure).rejects.toBeInstanceOf(IndexFileError);
    await expect(failure).rejects.toThrow(message);
  });
});

describe('writeFully', () => {
  /** A file handle on a filling disk: takes at most `room` more bytes, a few per call, then fails like write(2). */
  function fillingHandle(room: number) {
    const written: number[] = [];
    return {
      written,
      write: async (data: Uint8Array, offset: number, length: number) => {
        if (written.length >= room) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const take = Math.min(length, 3, room - written.length);
        written.push(...data.subarray(offset, offset + take));
        return { bytesWritten: take, buffer: data };
      },
    };
  }

  it('keeps writing after short writes until every byte is down', async () => {
    const handle = fillingHandle(100);
    const data = Buffer.from('{"id":"a","text":"ünïcode"}\n');
    await writeFully(handle as never, data);
    expect(Buffer.from(handle.written)).toEqual(data);
  });

  it('fails with the OS error when the disk fills midway, instead of reporting success', async () => {
    const handle = fillingHandle(10);
    await expect(writeFully(handle as never, Buffer.alloc(64, 'x'))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(handle.written).toHaveLength(10);
  });

  it('fails rather than loop when a write makes no progress', async () => {
    const stuck = { write: async () => ({ bytesWritten: 0 }) };
    await expect(writeFully(stuck as never, Buffer.alloc(8))).rejects.toMatchObject({ code: 'EIO' });
  });
});
