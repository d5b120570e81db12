/**
 * The far-away HTTPS upstream of scenarios 1 and 2: the simulator with TLS behind
 * the latency proxy, so that every TCP and TLS round trip costs what it would
 * across a network, and the services that reach it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyProcess, ServiceProcess, SimulatorProcess } from '../harness/processes';

export const ONE_WAY_DELAY_MS = 20;

/** How the service is told to trust the simulator's self-signed certificate. */
export type Trust = 'LLM_CA_FILE' | 'NODE_EXTRA_CA_CERTS';

export interface TlsUpstream {
  simulator: SimulatorProcess;
  proxy: ProxyProcess;
  caFile: string;
  /** A service whose upstream `sim` is the simulator, through the proxy. */
  startService(name: string, env: Record<string, string>, trust: Trust): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startTlsUpstream(): Promise<TlsUpstream> {
  const simulator = await SimulatorProcess.start({ tls: true });
  const proxy = await ProxyProcess.start(simulator.port, ONE_WAY_DELAY_MS);
  const caFile = join(mkdtempSync(join(tmpdir(), 'llm-bench-ca-')), 'simulator-ca.pem');
  writeFileSync(caFile, simulator.caPem!);
  return {
    simulator,
    proxy,
    caFile,
    startService: (name, env, trust) =>
      ServiceProcess.start(name, {
        // 127.0.0.1 is in the simulator certificate's names; the proxy passes TLS through untouched.
        LLM_UPSTREAMS: `sim=https://127.0.0.1:${proxy.port}/v1`,
        ...(trust === 'LLM_CA_FILE' ? { LLM_CA_FILE: caFile } : { NODE_EXTRA_CA_CERTS: caFile }),
        ...env,
      }),
    stop: async () => {
      await proxy.stop();
      await simulator.stop();
    },
  };
}
