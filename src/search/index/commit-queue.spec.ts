import { CommitQueue, type CommitOutcome } from './commit-queue';

describe('CommitQueue', () => {
  it('commits changes submitted together as one group, and later ones in the next', async () => {
    const groups: number[][] = [];
    let release!: () => void;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const queue = new CommitQueue<number>(async (changes) => {
      groups.push(changes);
      if (groups.length === 1) await firstWrite;
      return changes.map(() => undefined);
    });

    const first = [queue.submit(1), queue.submit(2)];
    await new Promise((resolve) => setImmediate(resolve));
    const second = [queue.submit(3), queue.submit(4), queue.submit(5)];
    release();
    await Promise.all([...first, ...second]);
    expect(groups).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('never runs two commits at once', async () => {
    let running = 0;
    let peak = 0;
    const queue = new CommitQueue<number>(async (changes) => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return changes.map(() => undefined);
    });
    await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i));
      await queue.submit(i);
    }));
    expect(peak).toBe(1);
  });

  it('rejects only the refused change, or the whole group when the commit throws', async () => {
    let fail = false;
    const queue = new CommitQueue<string>(async (changes): Promise<CommitOutcome[]> => {
      if (fail) throw new Error('disk full');
      return changes.map((change) => (change === 'bad' ? new Error('refused') : undefined));
    });
    const results = await Promise.allSettled([queue.submit('good'), queue.submit('bad')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    fail = true;
    await expect(Promise.all([queue.submit('a'), queue.submit('b')])).rejects.toThrow('disk full');
    fail = false;
    await expect(queue.submit('after')).resolves.toBeUndefined();
  });

  it('reports idle only once everything submitted is committed', async () => {
    const committed: number[] = [];
    const queue = new CommitQueue<number>(async (changes) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      committed.push(...changes);
      return changes.map(() => undefined);
    });
    void queue.submit(1);
    void queue.submit(2);
    await queue.idle();
    expect(committed).toEqual([1, 2]);
  });
});
