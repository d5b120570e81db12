import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, JournalWriter, scanJournal } from '../src/search/index/journal';
import { startInstance, type Instance } from './support/fleet';
import { postJson, requestJson } from './support/service-harness';

/** ~40 KB of text per document, so a few hundred writes outgrow the journal's 4 MiB floor and compactions run meanwhile. */
const bulky = (i: number) => Array.from({ length: 4_000 }, (_, w) => `w${(i * 7919 + w * 104_729) % 1_000_003}`).join(' ');

describe('search journal (embedded store)', () => {
  let root: string;
  let instance: Instance | undefined;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'journal-e2e-'));
  });
  afterEach(async () => {
    await instance?.stop();
    instance = undefined;
    await rm(root, { recursive: true, force: true });
  });

  it('loses nothing acknowledged to kill -9 during writes and compactions, and resurrects no acknowledged delete', async () => {
    const dataDir = join(root, 'search');
    instance = await startInstance({ SEARCH_DATA_DIR: dataDir, LLM_LEDGER_FILE: join(root, 'spend.jsonl') });
    const url = instance.url;
    const acknowledged = new Set<string>();
    const deleted = new Set<string>();
    let killed = false;
    // 8 writers in parallel (group commits), each upserting and now and then deleting its own earlier document.
    const writer = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const id = `w${w}-${i}`;
        const response = await postJson(`${url}/v1/documents`, { documents: [{ id, text: bulky(w * 10_000 + i), metadata: { w } }] }).catch(() => undefined);
        if (response?.status === 201) acknowledged.add(id);
        else if (response) throw new Error(`unexpected ${response.status}: ${JSON.stringify(response.json)}`);
        if (i % 5 === 4 && !killed) {
          const victim = `w${w}-${i - 2}`;
          const removed = await requestJson('DELETE', `${url}/v1/documents/${victim}`).catch(() => undefined);
          if (removed?.status === 200) deleted.add(victim);
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    // Until the journal has been compacted at least once and written to after it.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(await readdir(dataDir).catch(() => [] as string[])).includes('index.journal.2')) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    instance.kill('SIGKILL');
    killed = true;
    await Promise.all(writers);
    expect((await readdir(dataDir)).some((name) => /^index\.journal\.[2-9]/.test(name))).toBe(true);
    expect(acknowledged.size).toBeGreaterThan(100);

    await instance.restart();
    const missing: string[] = [];
    const resurrected: string[] = [];
    for (const id of acknowledged) {
      const { status } = await requestJson('GET', `${instance.url}/v1/documents/${id}`);
      if (deleted.has(id) ? status !== 404 : status !== 200) (deleted.has(id) ? resurrected : missing).push(id);
    }
    expect({ missing, resurrected }).toEqual({ missing: [], resurrected: [] });
  }, 180_000);

  describe('on a 256 KiB tmpfs', () => {
    let mountPoint: string;
    let mounted = false;

    beforeEach(async () => {
      mountPoint = join(root, 'small-disk');
      await mkdir(mountPoint);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mountPoint], { stdio: 'pipe' });
        mounted = true;
      } catch (error) {
        mounted = false;
        console.warn(`skipping the full-disk journal test: cannot mount a tmpfs (${(error as Error).message.split('\n')[0]}); run as root to include it`);
      }
    });
    afterEach(() => {
      if (mounted) execFileSync('umount', ['-l', mountPoint]);
    });

    it('cuts a journal back to its last whole record when an append hits ENOSPC', async () => {
      if (!mounted) return;
      const file = join(mountPoint, 'index.journal.0');
      const writer = await JournalWriter.create(file, '{"h":1}');
      const record = (n: number) => encodeRecord(JSON.stringify({ n, pad: 'x'.repeat(30_000) }));
      let appended = 0;
      let failure: NodeJS.ErrnoException | undefined;
      for (let n = 0; n < 20 && !failure; n++) {
        await writer.append(record(n)).then(
          () => appended++,
          (error: NodeJS.ErrnoException) => (failure = error),
        );
      }
      expect(failure?.code).toBe('ENOSPC');
      // Nothing of the refused record is left: the size is the sum of the acknowledged ones.
      expect((await stat(file)).size).toBe(writer.bytes);

      // What a boot would read: every acknowledged record, in order, and no torn one.
      await writer.close();
      const handle = await open(file, 'r');
      const values: unknown[] = [];
      const scan = await scanJournal(handle, (value) => values.push(value), () => {
        throw new Error('damaged');
      });
      await handle.close();
      expect(scan).toEqual({ records: appended + 1, validBytes: writer.bytes });
      expect(values.slice(1).map((value) => (value as { n: number }).n)).toEqual(Array.from({ length: appended }, (_, n) => n));
    });

    it('answers 503 INDEX_WRITE_FAILED before the journal leaves no room to compact, and a delete still frees room', async () => {
      if (!mounted) return;
      const dataDir = join(mountPoint, 'search');
      instance = await startInstance({ SEARCH_DATA_DIR: dataDir, LLM_LEDGER_FILE: join(root, 'spend.jsonl') });
      const statuses: number[] = [];
      for (let i = 0; i < 12 && !statuses.includes(503); i++) {
        const response = await postJson(`${instance.url}/v1/documents`, { documents: [{ id: `d${i}`, text: bulky(i).slice(0, 20_000) }] });
        statuses.push(response.status);
        if (response.status === 503) expect(response.json.error).toMatchObject({ code: 'INDEX_WRITE_FAILED', message: expect.stringContaining('ENOSPC') });
      }
      expect(statuses.at(-1)).toBe(503);
      const refused = `d${statuses.length - 1}`;
      expect((await requestJson('GET', `${instance.url}/v1/documents/${refused}`)).status).toBe(404);
      // The guard refused it while a compaction still fits: deleting and compacting makes room for it.
      expect((await requestJson('DELETE', `${instance.url}/v1/documents/d0`)).status).toBe(200);
      expect((await requestJson('DELETE', `${instance.url}/v1/documents/d1`)).status).toBe(200);
      const retried = await postJson(`${instance.url}/v1/documents`, { documents: [{ id: refused, text: bulky(99).slice(0, 20_000) }] });
      expect(retried.status).toBe(201);
      await instance.restart();
      expect((await requestJson('GET', `${instance.url}/v1/documents/${refused}`)).status).toBe(200);
      expect((await requestJson('GET', `${instance.url}/v1/documents/d0`)).status).toBe(404);
    }, 120_000);
  });
});
