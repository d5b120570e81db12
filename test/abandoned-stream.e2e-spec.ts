import type { Server } from 'node:http';
import { DrainService } from '../src/lifecycle/drain.service';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, postStream, routesTo, startWithSimulator, type SimulatedService } from './support/service-harness';
import { spawnLiveService } from './support/spawn-service';

// A stream long enough to still be running when the caller leaves: 200 tokens at 20 tokens/s.
const LONG_STREAM = chat('a long story', { model: 'sim/sim-1', stream: true, max_tokens: 200 });

/** Opens a stream, reads its first bytes, then leaves as a browser tab closing would: the fetch is aborted. */
async function abandonAfterFirstBytes(url: string): Promise<void> {
  const controller = new AbortController();
  const response = await postStream(`${url}/v1/chat/completions`, LONG_STREAM, controller.signal);
  expect(response.status).toBe(200);
  await response.body!.getReader().read();
  controller.abort();
}

async function timed(action: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

// The inbound keep-alive stays at its 65 s default in every test here: a close held by an abandoned
// connection would take a minute, not the few seconds asserted.
describe('a stream the caller abandoned does not hold up shutdown', () => {
  let running: SimulatedService | undefined;
  afterEach(async () => {
    await running?.simulator.stop();
    running = undefined;
  });

  it('closes at once after the caller aborted mid-stream', async () => {
    running = await startWithSimulator({ tokensPerSecond: 20 });
    const { simulator, service } = running;
    await abandonAfterFirstBytes(service.url);
    // The upstream generation stops with the caller.
    await eventually(() => expect(simulator.counters().abortedByClient).toBe(1));

    expect(await timed(() => service.close())).toBeLessThan(3_000);
  }, 20_000);

  it('closes at once after the caller aborted a stream whose upstream had stalled', async () => {
    running = await startWithSimulator({ tokensPerSecond: 20 });
    const { simulator, service } = running;
    simulator.setFaults({ count: 1, stallAfterTokens: 2 });
    await abandonAfterFirstBytes(service.url);
    await eventually(() => expect(simulator.counters().abortedByClient).toBe(1));

    expect(await timed(() => service.close())).toBeLessThan(3_000);
  }, 20_000);

  it('frees the connection of a caller that stopped reading once the call reaches its deadline', async () => {
    // Endless content events fill every buffer between the simulator and a caller that reads nothing more.
    running = await startWithSimulator({}, { LLM_TIMEOUT_MS: '1500' });
    const { simulator, service } = running;
    simulator.setFaults({ count: 1, endlessBody: true });
    const response = await postStream(`${service.url}/v1/chat/completions`, LONG_STREAM);
    expect(response.status).toBe(200);
    await response.body!.getReader().read();
    // Past the deadline the call is over: the caller's connection goes with it, read or not, instead of
    // waiting (with the error event behind the caller's full buffers) for as long as the caller keeps it open.
    await eventually(() => expect(simulator.counters().inFlight).toBe(0), 5_000);
    const server = service.app.getHttpServer() as Server;
    await eventually(async () => {
      expect(service.app.get(DrainService).inFlight).toBe(0);
      expect(await new Promise((resolve) => server.getConnections((_error, count) => resolve(count)))).toBe(0);
    }, 2_000);
    expect(await timed(() => service.close())).toBeLessThan(3_000);
  }, 20_000);
});

describe('SIGTERM to the real process after a caller abandoned a stream', () => {
  let simulator: UpstreamSimulator;

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ tokensPerSecond: 20 });
    await simulator.start();
  });
  afterAll(() => simulator.stop());

  it('exits 0 within the grace period, not after the 65 s keep-alive', async () => {
    const graceMs = 2_000;
    const service = await spawnLiveService({ ...routesTo(simulator), SHUTDOWN_GRACE_MS: String(graceMs) });
    const { url } = service;
    try {
      await abandonAfterFirstBytes(url);
      await eventually(() => expect(simulator.counters().abortedByClient).toBe(1));

      const signalled = Date.now();
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(graceMs + 1_500);
    } finally {
      service.child.kill('SIGKILL');
    }
  }, 30_000);
});
