import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { DocumentMetadata, StoredDocument } from '../search.types';
import { readLines, writeFully } from './journal';

export { writeFully };

const FORMAT = 'llm-service.search-index';
/** 1: the whole index, rewritten by every write. 2: a snapshot the journal files from `journal` on continue. */
const VERSION = 2;
// Large enough that a write is a few syscalls per megabyte, small enough not to double the heap.
const WRITE_CHUNK_CHARS = 1 << 20;

interface IndexFileHeader {
  format: typeof FORMAT;
  version: 1 | 2;
  savedAt: string;
  /** The model the vectors came from; vectors of another model are dropped at load. */
  embeddingModel: string | null;
  documents: number;
  /** Version 2: the first journal generation to replay on top of this snapshot. */
  journal?: number;
}

/** What a snapshot said about itself, once its documents were handed over. */
export interface SnapshotInfo {
  embeddingModel: string | null;
  documents: number;
  /** The first journal generation that continues it; 0 for a version 1 file (it predates journals). */
  journal: number;
  version: 1 | 2;
  /** Its size on disk. */
  bytes: number;
}

/** The index file is unreadable: the boot stops rather than overwrite what may be someone's only copy. */
export class IndexFileError extends Error {
  constructor(file: string, line: number, reason: string) {
    super(`search index ${file} is not a valid index file (line ${line}): ${reason}`);
    this.name = 'IndexFileError';
  }
}

/** A save that failed after the new file took the old one's place (its directory entry could not be synced). */
export class IndexReplacedError extends Error {
  constructor(readonly cause: unknown) {
    super(`the index file was replaced but the rename could not be made durable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'IndexReplacedError';
  }

  get code(): string | undefined {
    return (this.cause as NodeJS.ErrnoException)?.code;
  }
}

/**
 * The snapshot on disk: JSON lines (a header, then one document per line, vectors
 * as base64 float32), so it loads as a stream and is rebuilt into BM25 at boot.
 * A save replaces the file atomically: temp file in the same directory, fsync,
 * rename over the old one, fsync the directory. A crash leaves the old file or
 * the new one, never a mix. The writes since the snapshot are in the journal
 * (journal-store.ts); the snapshot is rewritten only when the journal is compacted.
 */
export class IndexStore {
  readonly file: string;

  constructor(
    readonly dir: string,
    private readonly fileName = 'index.jsonl',
  ) {
    this.file = join(dir, fileName);
  }

  /**
   * Creates the directory and removes temp files a crash mid-save left behind
   * (those of a process that no longer runs: a live one may be renaming its own).
   */
  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temp = new RegExp(`^${this.fileName.replace(/\./g, '\\.')}\\.(\\d+)\\..+\\.tmp$`);
    for (const name of await readdir(this.dir)) {
      const pid = temp.exec(name)?.[1];
      if (pid !== undefined && !isRunning(Number(pid))) await unlink(join(this.dir, name)).catch(() => undefined);
    }
    // A directory we cannot write to would only show on the first write (a 503 per request): find out now.
    const probe = this.tempPath();
    await (await open(probe, 'wx', 0o600)).close();
    await unlink(probe);
  }

  /**
   * Hands each saved document to `onDocument` as it is read (the documents are never all
   * in an array as well as in the index), then says what the snapshot was; undefined when there is none.
   */
  async load(onDocument: (document: StoredDocument, embeddingModel: string | null) => void): Promise<SnapshotInfo | undefined> {
    let handle;
    try {
      handle = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let header: IndexFileHeader | undefined;
    let documents = 0;
    let lineNumber = 0;
    let bytes = 0;
    try {
      const tail = await readLines(handle, (line, number, end) => {
        lineNumber = number;
        bytes = end;
        if (line.length === 0) return;
        let value: unknown;
        try {
          value = JSON.parse(line.toString('utf8'));
        } catch (error) {
          throw new IndexFileError(this.file, lineNumber, (error as Error).message);
        }
        if (!header) header = this.parseHeader(value, lineNumber);
        else {
          onDocument(parseDocument(value, (reason) => new IndexFileError(this.file, lineNumber, reason)), header.embeddingModel);
          documents++;
        }
      });
      // Written whole by a rename, so a line without its newline is damage, not a crash's torn tail.
      if (tail.length > 0) throw new IndexFileError(this.file, lineNumber + 1, 'the file ends in the middle of a line');
    } finally {
      await handle.close();
    }
    if (!header) throw new IndexFileError(this.file, lineNumber, 'the file is empty');
    if (header.documents !== documents) {
      throw new IndexFileError(this.file, lineNumber, `the header promises ${header.documents} documents, the file holds ${documents}`);
    }
    return { embeddingModel: header.embeddingModel, documents, journal: header.journal ?? 0, version: header.version, bytes };
  }

  /**
   * Replaces the snapshot with exactly these documents, continued by journal generation
   * `journal`; resolves with its size once it is on disk. On failure the previous file is
   * still the snapshot, except after an IndexReplacedError: then the new file has taken its
   * place, but that rename may not survive a crash.
   */
  async save(documents: readonly StoredDocument[], embeddingModel: string | undefined, journal: number): Promise<number> {
    const temp = this.tempPath();
    const handle = await open(temp, 'wx', 0o600);
    let written = 0;
    try {
      const header: IndexFileHeader = {
        format: FORMAT,
        version: VERSION,
        savedAt: new Date().toISOString(),
        embeddingModel: embeddingModel ?? null,
        documents: documents.length,
        journal,
      };
      const flush = async (text: string) => {
        const bytes = Buffer.from(text, 'utf8');
        await writeFully(handle, bytes);
        written += bytes.length;
      };
      let chunk = `${JSON.stringify(header)}\n`;
      for (const document of documents) {
        chunk += `${serializeDocument(document)}\n`;
        if (chunk.length >= WRITE_CHUNK_CHARS) {
          await flush(chunk);
          chunk = '';
        }
      }
      await flush(chunk);
      await handle.sync();
      // What is about to become the index must be all that was written, or a reboot would refuse it.
      const { size } = await handle.stat();
      if (size !== written) throw Object.assign(new Error(`the new index file holds ${size} of ${written} bytes`), { code: 'EIO' });
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, this.file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    try {
      await syncDirectory(this.dir);
    } catch (error) {
      throw new IndexReplacedError(error);
    }
    return written;
  }

  /** A temp file name that says which process writes it, so `prepare` knows which are abandoned. */
  private tempPath(): string {
    return join(this.dir, `${this.fileName}.${process.pid}.${randomUUID()}.tmp`);
  }

  private parseHeader(value: unknown, line: number): IndexFileHeader {
    const header = value as Partial<IndexFileHeader> | null;
    if (header?.format !== FORMAT) throw new IndexFileError(this.file, line, `expected a "${FORMAT}" header`);
    if (header.version !== 1 && header.version !== 2) throw new IndexFileError(this.file, line, `unsupported version ${String(header.version)}`);
    const journalValid = header.version === 1 ? header.journal === undefined : Number.isSafeInteger(header.journal) && header.journal! >= 0;
    if (!Number.isSafeInteger(header.documents) || (header.embeddingModel !== null && typeof header.embeddingModel !== 'string') || !journalValid) {
      throw new IndexFileError(this.file, line, 'malformed header');
    }
    return header as IndexFileHeader;
  }
}

/** A document from its JSON form (a snapshot line or a journal record); `invalid` builds the error to throw. */
export function parseDocument(value: unknown, invalid: (reason: string) => Error): StoredDocument {
  const raw = value as { id?: unknown; title?: unknown; text?: unknown; metadata?: unknown; vector?: unknown } | null;
  const valid =
    typeof raw?.id === 'string' &&
    typeof raw.text === 'string' &&
    (raw.title === undefined || typeof raw.title === 'string') &&
    (raw.vector === undefined || typeof raw.vector === 'string') &&
    isFlatMetadata(raw.metadata);
  if (!valid) throw invalid('malformed document');
  return {
    id: raw.id as string,
    ...(raw.title !== undefined && { title: raw.title as string }),
    text: raw.text as string,
    metadata: raw.metadata as DocumentMetadata,
    ...(raw.vector !== undefined && { vector: decodeVector(raw.vector as string) }),
  };
}

export function serializeDocument(document: StoredDocument): string {
  return JSON.stringify({
    id: document.id,
    title: document.title,
    text: document.text,
    metadata: document.metadata,
    vector: document.vector ? encodeVector(document.vector) : undefined,
  });
}

function isFlatMetadata(value: unknown): value is DocumentMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((entry) => typeof entry === 'string' || typeof entry === 'boolean' || (typeof entry === 'number' && Number.isFinite(entry)));
}

// Base64 float32 is a third the size of decimal JSON numbers and parses without a number parser.
export function encodeVector(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
}

export function decodeVector(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  // Copied into its own buffer: Float32Array needs 4-byte alignment that a pooled Buffer may not have.
  const vector = new Float32Array(bytes.length >>> 2);
  new Uint8Array(vector.buffer).set(bytes.subarray(0, vector.length * 4));
  return vector;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes the rename itself durable. Windows cannot open a directory for fsync; the rename is as durable as it gets there. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP') throw error;
  } finally {
    await handle?.close();
  }
}
