/** One change's outcome: undefined when it was committed, or the error that refused it alone. */
export type CommitOutcome = Error | undefined;

interface Pending<C> {
  change: C;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Serialises writes with group commit: changes submitted while a commit runs
 * wait, then go to disk together in the next one, so concurrent batches never
 * overwrite each other and a burst costs one file write, not one per request.
 */
export class CommitQueue<C> {
  private pending: Pending<C>[] = [];
  private running?: Promise<void>;

  /**
   * @param commit persists the changes in order and returns one outcome per change;
   * throwing fails every change of the group.
   */
  constructor(private readonly commit: (changes: C[]) => Promise<CommitOutcome[]>) {}

  /** Resolves once the change is durable; rejects with its own refusal or the group's failure. */
  submit(change: C): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ change, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when nothing is pending or being written (for shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the submitters of this tick join the first group.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      try {
        const outcomes = await this.commit(group.map((entry) => entry.change));
        group.forEach((entry, index) => {
          const refusal = outcomes[index];
          if (refusal) entry.reject(refusal);
          else entry.resolve();
        });
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const entry of group) entry.reject(failure);
      }
    }
    this.running = undefined;
  }
}
