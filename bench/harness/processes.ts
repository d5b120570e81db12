/**
 * The processes of a bench run: the upstream simulator, the latency proxy and the
 * service, each on its own event loop, on 127.0.0.1, all ended with the bench.
 * Their CPU time and RSS are read from /proc, so every result can say where the CPU went.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimulatorCounters, SimulatorOptions, TimingOptions } from '../../src/simulator/upstream-simulator';

const ROOT = join(__dirname, '..', '..');
const EXIT_WITH_PARENT = ['-r', join(__dirname, 'exit-with-parent.js')];
const TS_NODE = ['-r', require.resolve('ts-node/register/transpile-only')];
const OUTPUT_KEPT_CHARS = 20_000;
const children = new Set<ChildProcess>();

// Nothing the bench started may outlive it.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** CPU time (user + system, all threads) of a process, in ms; from /proc, at the kernel's tick resolution. */
export function cpuTimeMs(pid: number): number {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[] starts at field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64 and arm64

/** Resident set size in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** A child process started with an IPC channel, answering `{ id, type }` commands with `{ id, result }`. */
class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    children.add(process);
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS);
    };
    // Drained always: a full pipe would block the child.
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    process.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    this.exited = new Promise((resolve) =>
      process.once('exit', (code) => {
        children.delete(process);
        for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${code})`));
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.process.pid!;
  }

  get log(): string {
    return this.output;
  }

  cpuMs(): number {
    return cpuTimeMs(this.pid);
  }

  rssMb(): number {
    return rssMb(this.pid);
  }

  call<T>(command: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ id, ...command });
    });
  }

  /** The first message of the given type, or the child's output if it exits first. */
  waitFor<T>(type: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      const onMessage = (message: { type?: string }) => {
        if (message.type !== type) return;
        clearTimeout(timer);
        this.process.off('message', onMessage);
        resolve(message as T);
      };
      this.process.on('message', onMessage);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before it was ready:\n${this.output}`));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A bench helper (simulator, proxy) runs from its TypeScript source; the service
 * runs as `serviceRuntime` says. Every child starts in a directory without a .env
 * (the service would read one from its working directory) and with only the
 * environment given here.
 */
function spawnNode(args: string[], env: Record<string, string>, cwd = tmpdir()): ChildProcess {
  return spawn(process.execPath, [...EXIT_WITH_PARENT, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
}

function spawnTs(script: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawnNode([...TS_NODE, script, ...args], env);
}

/**
 * The node flags production starts the service with (`npm start`, the Dockerfile, the manifests all agree):
 * read from package.json's start script, so the bench measures what is deployed.
 */
function productionNodeFlags(runtime: ServiceRuntime): string[] {
  // BENCH_SERVICE_NODE_FLAGS (may be empty) replaces them, to measure what a flag buys.
  const override = process.env.BENCH_SERVICE_NODE_FLAGS;
  if (override !== undefined) return override.split(/\s+/).filter(Boolean);
  // A compiled build has its checkout's package.json beside dist/ (a BENCH_BASELINE runs with its own flags).
  const packageJson = runtime.kind === 'compiled' ? join(runtime.cwd, 'package.json') : join(ROOT, 'package.json');
  const start = (JSON.parse(readFileSync(packageJson, 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  return /\bnode((?: --[^\s]+)*) dist\/main\.js/.exec(start)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
}

/** How the service is started: compiled like `npm run build` (bench/harness/build-service.ts), or through ts-node. */
export type ServiceRuntime = { kind: 'compiled'; entry: string; cwd: string } | { kind: 'ts-node' };
let serviceRuntime: ServiceRuntime = { kind: 'ts-node' };

export function useServiceRuntime(runtime: ServiceRuntime): void {
  serviceRuntime = runtime;
}

export function describeServiceRuntime(): string {
  return serviceRuntime.kind === 'compiled'
    ? '`node dist/main.js` as `npm run build` makes it (compiled by tsc with tsconfig.build.json into node_modules/.cache/llm-bench-<checkout>/)'
    : '`node -r ts-node/register/transpile-only src/main.ts`';
}

export class SimulatorProcess extends Child {
  origin = '';
  port = 0;
  caPem?: string;

  static async start(options: SimulatorOptions): Promise<SimulatorProcess> {
    const simulator = new SimulatorProcess('simulator', spawnTs(join(__dirname, 'simulator-process.ts'), [], { BENCH_SIMULATOR_OPTIONS: JSON.stringify(options) }));
    const ready = await simulator.waitFor<{ origin: string; port: number; caPem?: string }>('ready', 30_000);
    Object.assign(simulator, { origin: ready.origin, port: ready.port, caPem: ready.caPem });
    return simulator;
  }

  counters(): Promise<SimulatorCounters> {
    return this.call({ type: 'counters' });
  }

  reset(): Promise<SimulatorCounters> {
    return this.call({ type: 'reset' });
  }

  configure(timing: Partial<TimingOptions>): Promise<TimingOptions> {
    return this.call({ type: 'configure', timing });
  }
}

export class ProxyProcess extends Child {
  port = 0;

  static async start(targetPort: number, oneWayDelayMs: number): Promise<ProxyProcess> {
    const args = ['--target', `127.0.0.1:${targetPort}`, '--delay', String(oneWayDelayMs)];
    const proxy = new ProxyProcess('latency-proxy', spawnTs(join(__dirname, '..', 'latency-proxy.ts'), args, {}));
    proxy.port = (await proxy.waitFor<{ port: number }>('ready', 30_000)).port;
    return proxy;
  }
}

/** The Portkey gateway (bench/harness/portkey.ts), ready once it answers HTTP. */
export class PortkeyProcess extends Child {
  url = '';

  static async start(entry: string): Promise<PortkeyProcess> {
    const port = await freePort();
    const gateway = new PortkeyProcess('portkey', spawnNode([entry, `--port=${port}`, '--headless'], { PORTKEY_HEADLESS: 'true' }));
    gateway.url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    let exited = false;
    void gateway.exited.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
      try {
        await fetch(gateway.url, { signal: AbortSignal.timeout(1_000) });
        return gateway;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    throw new Error(`portkey did not start:\n${gateway.log}`);
  }
}

export interface PoolStats {
  sockets: { created: number; open: number; active: number; idle: number; tlsHandshakes: number; tlsSessionsResumed: number; closed: number; closedByReason: Record<string, number> };
  requests: { total: number; reused: number; succeeded: number; failed: number; inFlight: number; queued: number; peakInFlight: number };
  poolExhausted: { total: number; queueFull: number; waitTimeout: number };
}

/** The service (src/main.ts, as `npm start` runs it but through ts-node) with exactly the given environment. */
export class ServiceProcess extends Child {
  url = '';
  callerKey = '';
  adminKey = '';

  static async start(name: string, env: Record<string, string>, nodeArgs: string[] = [], runtime: ServiceRuntime = serviceRuntime): Promise<ServiceProcess> {
    const port = await freePort();
    const callerKey = `bench-caller-${Math.random().toString(36).slice(2)}-key`;
    const adminKey = `bench-admin-${Math.random().toString(36).slice(2)}-key`;
    const child = spawnNode(
      [...productionNodeFlags(runtime), ...nodeArgs, ...(runtime.kind === 'compiled' ? [runtime.entry] : [...TS_NODE, join(ROOT, 'src', 'main.ts')])],
      {
        PORT: String(port),
        HOST: '127.0.0.1',
        // Callers authenticate as in production; no rate limit, or the load itself would be refused.
        SERVICE_API_KEYS: callerKey,
        SERVICE_ADMIN_KEY: adminKey,
        SERVICE_RATE_LIMIT_PER_MINUTE: '0',
        LLM_SIMULATOR: 'off',
        // Only the simulator: nothing the bench starts may reach a real provider, whatever the machine's environment.
        LLM_PROVIDER: 'sim',
        OPENAI_API_KEY: '',
        OPENAI_BASE_URL: '',
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_BASE_URL: '',
        SEARCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'llm-bench-search-')),
        SEARCH_SAMPLE_CORPUS: 'false',
        ...env,
      },
      runtime.kind === 'compiled' ? runtime.cwd : tmpdir(),
    );
    const service = new ServiceProcess(name, child);
    Object.assign(service, { url: `http://127.0.0.1:${port}`, callerKey, adminKey });
    await service.waitUntilLive(60_000);
    return service;
  }

  get authorization(): string {
    return `Bearer ${this.callerKey}`;
  }

  private async waitUntilLive(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
      try {
        const response = await fetch(`${this.url}/health/live`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} did not become live:\n${this.log}`);
  }

  async poolStats(upstream: string): Promise<PoolStats> {
    const response = await fetch(`${this.url}/v1/llm/stats/${upstream}`, { headers: { authorization: this.authorization } });
    if (!response.ok) throw new Error(`${this.name}: stats answered ${response.status}`);
    return (await response.json()) as PoolStats;
  }

  /** Closes the pool's idle sockets (admin route), so the next request opens a new connection. */
  async closeIdleSockets(upstream: string): Promise<void> {
    const response = await fetch(`${this.url}/v1/admin/pools/${upstream}/sockets/destroy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.adminKey}` },
    });
    if (!response.ok) throw new Error(`${this.name}: sockets/destroy answered ${response.status}`);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Busy CPU ms of the whole machine (all cores) since boot, from /proc/stat. */
export function machineBusyMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / CLOCK_TICKS;
}

/** CPU of a set of processes over a measured interval, and what the rest of the machine used meanwhile. */
export class CpuMeter {
  private readonly start: Map<string, number>;
  private readonly machineStart = machineBusyMs();
  private readonly startedAt = performance.now();

  constructor(private readonly pids: Record<string, number>) {
    this.start = new Map(Object.entries(pids).map(([name, pid]) => [name, cpuTimeMs(pid)]));
  }

  /** CPU ms per process since construction, the wall time, and the CPU ms of every other process on the machine. */
  stop(): { wallMs: number; cpuMs: Record<string, number>; othersCpuMs: number } {
    const wallMs = performance.now() - this.startedAt;
    const cpuMs: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) cpuMs[name] = cpuTimeMs(pid) - this.start.get(name)!;
    const ours = Object.values(cpuMs).reduce((a, b) => a + b, 0);
    return { wallMs, cpuMs, othersCpuMs: Math.max(0, machineBusyMs() - this.machineStart - ours) };
  }
}

/**
 * Waits (up to `maxWaitMs`) until the machine is quiet: less than `threshold` of
 * its CPU busy over a short sample. Other work on a shared machine would
 * otherwise land on one side of a comparison. Resolves with the time waited and
 * the busy share last seen.
 */
export async function waitForQuiet(cores: number, maxWaitMs: number, threshold = 0.1): Promise<{ waitedMs: number; busy: number }> {
  const started = performance.now();
  for (;;) {
    const before = machineBusyMs();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const busy = (machineBusyMs() - before) / ((performance.now() - t0) * cores);
    const waitedMs = performance.now() - started;
    if (busy < threshold || waitedMs >= maxWaitMs) return { waitedMs, busy };
  }
}
