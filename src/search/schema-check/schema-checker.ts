import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SchemaCheckJob, SchemaCheckRequest, SchemaCheckResult, SchemaError } from './schema-check.protocol';

export type { SchemaError } from './schema-check.protocol';

/** The schema cannot be used (it does not compile, or is $async); the message is for the caller. */
export class InvalidSchema extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSchema';
  }
}

/** The check ran past its time limit; the worker running it was terminated. */
export class SchemaCheckTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the schema check ran longer than ${timeoutMs} ms`);
    this.name = 'SchemaCheckTimeout';
  }
}

interface Job {
  request: SchemaCheckRequest;
  resolve(errors: SchemaError[]): void;
  reject(error: Error): void;
}

// Compiled, the worker is a .js beside this file; under ts-jest or ts-node it is the .ts source.
const WORKER_FILE = join(__dirname, `schema-check.worker${extname(__filename)}`);
const WORKER_OPTIONS = extname(__filename) === '.ts' ? { execArgv: ['--require', 'ts-node/register/transpile-only'] } : {};

/**
 * Compiles callers' JSON Schemas and validates model replies against them on a worker thread,
 * one job at a time, each with a hard time limit. ajv runs `pattern` with JavaScript's backtracking RegExp:
 * `^(a+)+$` on 40 characters would run for days, and on the main thread it would stop every
 * request and the liveness probe with it (maxLength does not help: 30 characters took 46 s).
 * Past the limit the worker is terminated (V8 interrupts even a running regular expression)
 * and a fresh one takes the next check.
 */
export class SchemaChecker {
  private readonly queue: Job[] = [];
  private worker?: Promise<Worker>;
  private running?: { job: Job; timer?: NodeJS.Timeout };
  private sequence = 0;
  private closed = false;

  constructor(private readonly timeoutMs: number) {}

  /** Resolves when the schema compiles; rejects with InvalidSchema when not, SchemaCheckTimeout past the limit. */
  async compile(schemaJson: string): Promise<void> {
    await this.run({ kind: 'compile', schemaJson });
  }

  /** The schema's errors for `data` ([] when valid); rejects with SchemaCheckTimeout past the limit. */
  check(schemaJson: string, data: unknown): Promise<SchemaError[]> {
    return this.run({ kind: 'validate', schemaJson, data });
  }

  private run(job: SchemaCheckJob): Promise<SchemaError[]> {
    if (this.closed) return Promise.reject(new Error('the schema checker is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { ...job, id: ++this.sequence }, resolve, reject });
      void this.next();
    });
  }

  /** Rejects what is queued or running and terminates the worker (at shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const closed = new Error('the schema checker is closed');
    for (const job of this.queue.splice(0)) job.reject(closed);
    if (this.running) this.finish(this.running.job, (job) => job.reject(closed));
    await this.discardWorker();
  }

  private async next(): Promise<void> {
    if (this.closed || this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    // Claimed before the await, so a second call cannot start another job meanwhile.
    this.running = { job, timer: undefined };
    let worker: Worker;
    try {
      worker = await (this.worker ??= this.spawn());
    } catch (error) {
      this.worker = undefined;
      return this.finish(job, () => job.reject(error as Error));
    }
    if (this.running?.job !== job) return; // closed meanwhile
    // The clock starts once the worker has the job: neither its start-up nor the queue counts.
    this.running.timer = setTimeout(() => this.timedOut(job), this.timeoutMs);
    worker.postMessage(job.request);
  }

  private spawn(): Promise<Worker> {
    const worker = new Worker(WORKER_FILE, WORKER_OPTIONS);
    // It never keeps the process alive on its own.
    worker.unref();
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (message) => {
        if (message !== 'ready') return reject(new Error(`unexpected first message from the schema check worker: ${String(message)}`));
        worker.off('error', reject);
        worker.on('message', (result: SchemaCheckResult) => this.settled(result));
        worker.on('error', (error) => this.crashed(worker, error));
        worker.on('exit', (code) => this.crashed(worker, new Error(`the schema check worker exited (${code})`)));
        resolve(worker);
      });
    });
  }

  private settled(result: SchemaCheckResult): void {
    const job = this.running?.job;
    if (!job || job.request.id !== result.id) return;
    if ('invalidSchema' in result) this.finish(job, () => job.reject(new InvalidSchema(result.invalidSchema)));
    else this.finish(job, () => job.resolve(result.errors));
  }

  private timedOut(job: Job): void {
    void this.discardWorker();
    this.finish(job, () => job.reject(new SchemaCheckTimeout(this.timeoutMs)));
  }

  private crashed(worker: Worker, error: Error): void {
    void this.worker
      ?.then((current) => {
        if (current !== worker) return;
        this.worker = undefined;
        if (this.running) this.finish(this.running.job, (job) => job.reject(error));
      })
      .catch(() => undefined);
  }

  private async discardWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker
      ?.then((stale) => {
        stale.removeAllListeners();
        return stale.terminate();
      })
      .catch(() => undefined);
  }

  private finish(job: Job, settle: (job: Job) => void): void {
    if (this.running?.job !== job) return;
    clearTimeout(this.running.timer);
    this.running = undefined;
    settle(job);
    void this.next();
  }
}
