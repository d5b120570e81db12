import { Logger } from '@nestjs/common';
import { open, readdir, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredDocument } from '../search.types';
import { decodeVector, IndexFileError, IndexReplacedError, IndexStore, parseDocument, syncDirectory, type SnapshotInfo } from './index-store';
import { encodeRecord, JournalWriter, scanJournal, type JournalScan } from './journal';

const JOURNAL_FORMAT = 'llm-service.search-journal';
const JOURNAL_VERSION = 1;
const JOURNAL_NAME = /^index\.journal\.(\d+)$/;

/**
 * Compact once the journal outgrows the snapshot (and this floor): the files then hold at most
 * about twice the live documents, and replaying the journal at boot costs no more than loading
 * the snapshot. At 10 000 documents of ~1 KB a compaction comes every ~10 000 writes.
 */
const COMPACT_MIN_JOURNAL_BYTES = 4 << 20;
/** After a compaction failed (disk full, I/O error), wait this long before the next try. */
const COMPACT_RETRY_MS = 10_000;
/** Room kept beyond a compaction's size for what the estimate misses: file system blocks, headers. */
const RESERVE_SLACK_BYTES = 64 << 10;

/** One change as replayed at boot: the snapshot's documents arrive as `put`s, then the journal's operations in order. */
export type ReplayOperation = { put: StoredDocument } | { del: string } | { vec: { id: string; vector: Float32Array } };

type Apply = (operation: ReplayOperation, embeddingModel: string | null) => void;

export interface LoadSummary {
  /** Whether a snapshot or any journal record existed (false: a new, empty index). */
  found: boolean;
  snapshotDocuments: number;
  journalRecords: number;
  /** Torn last records dropped (never acknowledged). */
  tornRecords: number;
}

/** The operations of one group commit, already JSON, and what they make obsolete on disk. */
export interface JournalEntry {
  /** `{"put":<document>}`, `{"del":"<id>"}` or `{"vec":["<id>","<base64>"]}` each. */
  operations: string[];
  /** Serialized size of the committed documents these operations replace or delete: room a compaction gets back. */
  obsoleteBytes: number;
}

export const putOperation = (serializedDocument: string) => `{"put":${serializedDocument}}`;
export const deleteOperation = (id: string) => `{"del":${JSON.stringify(id)}}`;
export const vectorOperation = (id: string, base64: string) => `{"vec":[${JSON.stringify(id)},"${base64}"]}`;

/**
 * The embedded index on disk: a snapshot (index.jsonl, see index-store.ts) and the journal
 * files that continue it (index.journal.<generation>). A group commit is one journal record,
 * appended and fdatasynced (~0.2 ms here) instead of rewriting every document.
 *
 * Compaction rotates to a new journal generation between two commits, then writes the
 * documents as they were at that instant into a new snapshot in the background (the
 * documents are immutable objects, so the capture is an array of references, not a copy of
 * their text); writes meanwhile go to the new journal. Once the snapshot's rename is
 * durable, the older journals are deleted. A crash at any point leaves a snapshot and the
 * journals from its generation on, which replay to the acknowledged state.
 *
 * Room: a write is refused (ENOSPC) when it would leave too little free space to compact
 * the index afterwards. A journal only ever shrinks by a compaction, so a journal that filled
 * the disk would leave deletes unable to free anything.
 */
export class JournalStore {
  private readonly logger = new Logger('Search');
  private readonly snapshot: IndexStore;
  private writer?: JournalWriter;
  private generation = 0;
  /** The oldest journal generation still on disk. */
  private oldestGeneration = 0;
  private snapshotBytes = 0;
  /** Bytes of the journals older than the one being appended to (waiting for a compaction to delete them). */
  private sealedBytes = 0;
  /** Bytes on disk that hold replaced or deleted documents: what a compaction would free (an estimate). */
  private obsoleteBytes = 0;
  private compacting?: Promise<void>;
  private compactNotBefore = 0;

  constructor(
    readonly dir: string,
    private readonly embeddingModel: string | undefined,
    /** The committed documents at this instant, for a compaction. */
    private readonly capture: () => StoredDocument[],
  ) {
    this.snapshot = new IndexStore(dir);
  }

  get file(): string {
    return this.snapshot.file;
  }

  get journalBytes(): number {
    return this.sealedBytes + (this.writer?.bytes ?? 0);
  }

  async prepare(): Promise<void> {
    await this.snapshot.prepare();
  }

  /**
   * Replays the snapshot and the journals into `apply`, drops a torn last record with a
   * warning, and opens the last journal for appending. A version 1 index (before journals)
   * is rewritten as a version 2 snapshot once, so an older release refuses it rather than
   * silently ignoring the journal.
   */
  async load(apply: Apply): Promise<LoadSummary> {
    const { snapshot, stale, journals } = await this.read(apply);
    // A compaction finished but was stopped before deleting these: the snapshot already holds them.
    for (const generation of stale) await unlink(this.journalPath(generation));
    this.snapshotBytes = snapshot?.bytes ?? 0;
    const first = snapshot?.journal ?? 0;
    const last = journals.at(-1)?.generation ?? first;
    for (const { generation, scan } of journals) {
      const file = this.journalPath(generation);
      if (scan.torn) this.logger.warn(`${file}: dropped the last record (line ${scan.torn.line}: ${scan.torn.reason}); a crash cut it short, it was never acknowledged`);
      // A cut-off header is an empty journal: write the header again.
      const writer = scan.validBytes === 0 ? await this.recreate(generation) : await JournalWriter.open(file, scan.validBytes);
      if (generation === last) this.writer = writer;
      else {
        this.sealedBytes += writer.bytes;
        await writer.close();
      }
    }
    this.oldestGeneration = first;
    this.generation = last;
    this.writer ??= await this.recreate(first);
    // Every journal's first record is its header.
    const journalRecords = journals.reduce((sum, { scan }) => sum + Math.max(0, scan.records - 1), 0);
    if (snapshot?.version === 1) await this.compact();
    return {
      found: snapshot !== undefined || journalRecords > 0,
      snapshotDocuments: snapshot?.documents ?? 0,
      journalRecords,
      tornRecords: journals.filter(({ scan }) => scan.torn).length,
    };
  }

  /** Replays what the files hold into `apply` without changing any of them. */
  async read(apply: Apply): Promise<{ snapshot?: SnapshotInfo; stale: number[]; journals: { generation: number; scan: JournalScan }[] }> {
    const snapshot = await this.snapshot.load((document, model) => apply({ put: document }, model));
    const first = snapshot?.journal ?? 0;
    const generations = await this.journalGenerations();
    const live = generations.filter((generation) => generation >= first);
    live.forEach((generation, index) => {
      if (generation !== first + index) {
        throw new IndexFileError(this.journalPath(first + index), 0, `journal generation ${first + index} is missing (the snapshot continues with it, ${generation} follows)`);
      }
    });
    const journals: { generation: number; scan: JournalScan }[] = [];
    for (const generation of live) {
      const file = this.journalPath(generation);
      const handle = await open(file, 'r');
      try {
        const scan = await scanJournal(
          handle,
          (value, line) => (line === 1 ? this.checkHeader(file, value, generation) : this.replay(file, line, value, apply)),
          (damage) => {
            throw new IndexFileError(file, damage.line, `${damage.reason}, and records follow it: the journal is damaged, not cut short by a crash`);
          },
        );
        journals.push({ generation, scan });
      } finally {
        await handle.close();
      }
    }
    return { snapshot, stale: generations.filter((generation) => generation < first), journals };
  }

  /**
   * Appends one group commit; resolves once it is durable. Throws (and the journal is as it
   * was) when it cannot be written, or would leave no room for a compaction (ENOSPC).
   */
  async append(entry: JournalEntry): Promise<void> {
    const record = encodeRecord(`{"m":${JSON.stringify(this.embeddingModel ?? null)},"ops":[${entry.operations.join(',')}]}`);
    await this.ensureRoom(record.length, entry.obsoleteBytes);
    await this.writer!.append(record);
    this.obsoleteBytes += entry.obsoleteBytes;
  }

  /** After a commit: starts a compaction in the background when the journal has outgrown the snapshot. Never throws. */
  async compactIfDue(): Promise<void> {
    if (this.compacting || Date.now() < this.compactNotBefore) return;
    if (this.journalBytes < Math.max(COMPACT_MIN_JOURNAL_BYTES, this.snapshotBytes)) return;
    await this.startCompaction().catch((error: unknown) => this.compactionFailed(error));
  }

  /** Waits for a compaction in progress and closes the journal (at shutdown, once no write is queued). */
  async close(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await this.compacting;
    await writer?.close();
  }

  /** Runs a whole compaction now (at boot, or when the disk is too full for the next write). */
  private async compact(): Promise<void> {
    await this.compacting;
    await this.startCompaction();
    await this.compacting;
  }

  /**
   * Rotates the journal and captures the documents (both between two commits: the caller
   * holds the commit queue), then writes the snapshot in the background.
   */
  private async startCompaction(): Promise<void> {
    const obsoleteAtCapture = this.obsoleteBytes;
    const generation = await this.rotate();
    const documents = this.capture();
    this.compacting = this.writeSnapshot(documents, generation, obsoleteAtCapture)
      .catch((error: unknown) => this.compactionFailed(error))
      .finally(() => (this.compacting = undefined));
  }

  private async writeSnapshot(documents: StoredDocument[], generation: number, obsoleteAtCapture: number): Promise<void> {
    const started = performance.now();
    const bytes = await this.snapshot.save(documents, this.embeddingModel, generation);
    this.snapshotBytes = bytes;
    // The snapshot's rename is durable: it no longer needs the journals before `generation`.
    for (let old = this.oldestGeneration; old < generation; old++) {
      await unlink(this.journalPath(old)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    this.oldestGeneration = generation;
    this.sealedBytes = 0;
    this.obsoleteBytes -= obsoleteAtCapture;
    this.logger.log(`compacted the index: ${documents.length} documents, ${bytes} bytes, in ${Math.round(performance.now() - started)} ms`);
  }

  private compactionFailed(error: unknown): void {
    this.compactNotBefore = Date.now() + COMPACT_RETRY_MS;
    // Nothing is lost: the journals stay until a snapshot replaces them (after IndexReplacedError too).
    const kept = error instanceof IndexReplacedError ? ' (the old journals are kept)' : '';
    this.logger.error(`compacting the search index failed${kept}: ${(error as Error).message}; writes go on in the journal`);
  }

  /** Starts the next journal generation; appends go there from now on. */
  private async rotate(): Promise<number> {
    const generation = this.generation + 1;
    const writer = await this.recreate(generation);
    const previous = this.writer!;
    this.writer = writer;
    this.generation = generation;
    this.sealedBytes += previous.bytes;
    await previous.close();
    return generation;
  }

  /** A new, empty journal of this generation, its directory entry durable. */
  private async recreate(generation: number): Promise<JournalWriter> {
    const file = this.journalPath(generation);
    await unlink(file).catch(() => undefined);
    const writer = await JournalWriter.create(file, JSON.stringify({ format: JOURNAL_FORMAT, version: JOURNAL_VERSION, generation }));
    try {
      await syncDirectory(this.dir);
    } catch (error) {
      await writer.close();
      await unlink(file).catch(() => undefined);
      throw error;
    }
    return writer;
  }

  /**
   * Refuses a record that would leave less free space than a compaction of the index after it
   * needs (its live documents: the files minus what is obsolete); first tries to free room by
   * compacting when something is obsolete.
   */
  private async ensureRoom(recordBytes: number, obsoleteNow: number): Promise<void> {
    const needed = () => 2 * recordBytes + this.snapshotBytes + this.journalBytes - this.obsoleteBytes - obsoleteNow + RESERVE_SLACK_BYTES;
    let free = await freeBytes(this.dir);
    if (free === undefined || free >= needed()) return;
    if (this.compacting) {
      await this.compacting;
      free = (await freeBytes(this.dir)) ?? Infinity;
    }
    if (free < needed() && this.obsoleteBytes > 0) {
      this.logger.warn(`the disk under ${this.dir} is nearly full (${free} bytes free): compacting the index to free room`);
      await this.compact();
      free = (await freeBytes(this.dir)) ?? Infinity;
    }
    if (free < needed()) {
      throw Object.assign(new Error(`ENOSPC: ${free} bytes free under ${this.dir}; this write and a later compaction need ${needed()}`), { code: 'ENOSPC' });
    }
  }

  private journalPath(generation: number): string {
    return join(this.dir, `index.journal.${generation}`);
  }

  private async journalGenerations(): Promise<number[]> {
    const generations: number[] = [];
    for (const name of await readdir(this.dir)) {
      const match = JOURNAL_NAME.exec(name);
      if (match) generations.push(Number(match[1]));
    }
    return generations.sort((a, b) => a - b);
  }

  private checkHeader(file: string, value: unknown, generation: number): void {
    const header = value as { format?: unknown; version?: unknown; generation?: unknown } | null;
    if (header?.format !== JOURNAL_FORMAT) throw new IndexFileError(file, 1, `expected a "${JOURNAL_FORMAT}" header`);
    if (header.version !== JOURNAL_VERSION) throw new IndexFileError(file, 1, `unsupported journal version ${String(header.version)}`);
    if (header.generation !== generation) throw new IndexFileError(file, 1, `the header says generation ${String(header.generation)}`);
  }

  private replay(file: string, line: number, value: unknown, apply: Apply): void {
    const invalid = (reason: string) => new IndexFileError(file, line, reason);
    const record = value as { m?: unknown; ops?: unknown } | null;
    if (!Array.isArray(record?.ops) || (record.m !== null && typeof record.m !== 'string')) throw invalid('malformed journal record');
    const model = record.m as string | null;
    for (const operation of record.ops as ({ put?: unknown; del?: unknown; vec?: unknown } | null)[]) {
      if (operation?.put !== undefined) apply({ put: parseDocument(operation.put, invalid) }, model);
      else if (typeof operation?.del === 'string') apply({ del: operation.del }, model);
      else if (Array.isArray(operation?.vec) && typeof operation.vec[0] === 'string' && typeof operation.vec[1] === 'string') {
        apply({ vec: { id: operation.vec[0], vector: decodeVector(operation.vec[1]) } }, model);
      } else throw invalid('malformed journal operation');
    }
  }
}

/** Free bytes for us on the file system holding `dir`; undefined where the platform cannot say. */
async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/** The ids the index files under `dir` hold, read without writing anything (for tests and tools). */
export async function readIndexedIds(dir: string): Promise<string[]> {
  const ids = new Set<string>();
  await new JournalStore(dir, undefined, () => []).read((operation) => {
    if ('put' in operation) ids.add(operation.put.id);
    else if ('del' in operation) ids.delete(operation.del);
  });
  return [...ids];
}
