import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, postJson, startService, type RunningService } from './support/service-harness';

/** ~8 KiB of text that differs per document, so nothing about it compresses or dedupes. */
function bulkyText(i: number): string {
  const words: string[] = [];
  for (let w = 0; words.join(' ').length < 8_000; w++) words.push(`word${(i * 7919 + w * 104_729) % 1_000_003}`);
  return words.join(' ');
}

function tryMount(args: string[]): string | undefined {
  try {
    execFileSync('mount', args, { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return ((error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message).split('\n')[0];
  }
}

describe('search index durability', () => {
  let root: string;
  let service: RunningService | undefined;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'durability-e2e-'));
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await rm(root, { recursive: true, force: true });
  });

  // The spend ledger defaults to a file in SEARCH_DATA_DIR: kept apart, so only the index meets the bad directory.
  const boot = (dataDir: string, env: Record<string, string> = {}) =>
    startService({ SEARCH_DATA_DIR: dataDir, SEARCH_SAMPLE_CORPUS: 'false', LLM_LEDGER_FILE: join(root, 'llm-spend.jsonl'), ...env }).then(
      (started) => (service = started),
    );

  describe('on a 512 KiB tmpfs that fills up', () => {
    let mountPoint: string;
    let mounted = false;

    beforeEach(async () => {
      mountPoint = join(root, 'small-disk');
      await mkdir(mountPoint);
      // Mounting needs root (CI runs as root); elsewhere the test says why it did not run.
      const failure = tryMount(['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', mountPoint]);
      mounted = failure === undefined;
      if (!mounted) console.warn(`skipping the full-disk test: cannot mount a tmpfs (${failure}); run as root to include it`);
    });
    afterEach(async () => {
      await service?.close();
      service = undefined;
      if (mounted) execFileSync('umount', ['-l', mountPoint]);
    });

    it('acknowledges only what is on disk, answers 503 INDEX_WRITE_FAILED once full, and boots again with every 201', async () => {
      if (!mounted) return;
      const dataDir = join(mountPoint, 'search');
      await boot(dataDir);
      const acknowledged: string[] = [];
      const refused: string[] = [];
      // Pairs of concurrent writes, so group commits fill the disk too; stop well after the first refusals.
      for (let i = 0; refused.length < 6 && i < 200; i += 2) {
        const ids = [`doc-${i}`, `doc-${i + 1}`];
        const responses = await Promise.all(
          ids.map((id, k) => postJson(`${service!.url}/v1/documents`, { documents: [{ id, text: bulkyText(i + k), metadata: { n: i + k } }] })),
        );
        responses.forEach((response, k) => {
          if (response.status === 201) return void acknowledged.push(ids[k]);
          expect(response.status).toBe(503);
          expect(response.json.error).toMatchObject({ status: 503, code: 'INDEX_WRITE_FAILED', message: expect.stringContaining('ENOSPC') });
          refused.push(ids[k]);
        });
      }
      expect(refused.length).toBeGreaterThanOrEqual(6);
      // Of 512 KiB, about half holds the index and half its next copy: some 30 documents of 8 KiB.
      expect(acknowledged.length).toBeGreaterThan(10);

      // A refused write changed nothing, even in memory.
      for (const id of refused.slice(0, 2)) expect((await getJson(`${service!.url}/v1/documents/${id}`)).status).toBe(404);

      await service!.close();
      service = undefined;
      await boot(dataDir);
      for (const id of acknowledged) {
        const response = await getJson(`${service!.url}/v1/documents/${id}`);
        expect({ id, status: response.status }).toEqual({ id, status: 200 });
      }
      for (const id of refused) expect((await getJson(`${service!.url}/v1/documents/${id}`)).status).toBe(404);

      // Deleting makes room again: the index is usable after a full disk, without a restart.
      for (const id of acknowledged.slice(0, 4)) {
        expect((await getJson(`${service!.url}/v1/documents/${id}`)).status).toBe(200);
        const deleted = await fetch(`${service!.url}/v1/documents/${id}`, { method: 'DELETE' });
        expect(deleted.status).toBe(200);
      }
      const retried = await postJson(`${service!.url}/v1/documents`, { documents: [{ id: refused[0], text: bulkyText(9_999) }] });
      expect(retried.status).toBe(201);
    }, 60_000);
  });

  describe('a data directory the service cannot use', () => {
    it('refuses to boot when SEARCH_DATA_DIR is a file, naming the variable and the OS error', async () => {
      const file = join(root, 'not-a-directory');
      await writeFile(file, 'x');
      await expect(boot(file)).rejects.toThrow(new RegExp(`SEARCH_DATA_DIR=${file}.*EEXIST`));
      await expect(boot(join(file, 'below'))).rejects.toThrow(/SEARCH_DATA_DIR=.*ENOTDIR/);
    });

    it('refuses to boot when SEARCH_DATA_DIR is read-only, naming the variable and the OS error', async () => {
      const dataDir = join(root, 'read-only');
      await mkdir(dataDir);
      // root ignores permission bits: a read-only mount is what stops it; others get a 0555 directory.
      let readOnlyMount = false;
      if (process.getuid?.() === 0) {
        readOnlyMount = tryMount(['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dataDir]) === undefined;
        if (!readOnlyMount) return void console.warn('skipping the read-only test: cannot mount a read-only tmpfs');
      } else {
        await chmod(dataDir, 0o555);
      }
      try {
        await expect(boot(dataDir, { SEARCH_SAMPLE_CORPUS: 'true' })).rejects.toThrow(new RegExp(`SEARCH_DATA_DIR=${dataDir}.*(EROFS|EACCES)`));
        // Also without anything to seed: a read-only index would only fail on the first write.
        await expect(boot(dataDir)).rejects.toThrow(new RegExp(`SEARCH_DATA_DIR=${dataDir}.*(EROFS|EACCES)`));
      } finally {
        if (readOnlyMount) execFileSync('umount', ['-l', dataDir]);
        else await chmod(dataDir, 0o755);
      }
    });

    it('refuses to boot when the index file cannot be read, naming SEARCH_DATA_DIR and the OS error', async () => {
      const dataDir = join(root, 'unreadable');
      // A directory where the index file should be: reading it fails with EISDIR, for root too.
      await mkdir(join(dataDir, 'index.jsonl'), { recursive: true });
      await expect(boot(dataDir)).rejects.toThrow(new RegExp(`SEARCH_DATA_DIR=${dataDir}.*EISDIR`));
    });
  });
});
