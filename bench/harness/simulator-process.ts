/**
 * The upstream simulator in its own process (its own event loop and CPU), driven
 * by the bench over the IPC channel, so that control traffic opens no TCP
 * connection the simulator would count. Options come as JSON in BENCH_SIMULATOR_OPTIONS.
 */
import { UpstreamSimulator, type SimulatorOptions } from '../../src/simulator/upstream-simulator';

export type SimulatorCommand =
  | { id: number; type: 'counters' }
  | { id: number; type: 'reset' }
  | { id: number; type: 'configure'; timing: Parameters<UpstreamSimulator['configure']>[0] };

async function main(): Promise<void> {
  const options = JSON.parse(process.env.BENCH_SIMULATOR_OPTIONS ?? '{}') as SimulatorOptions;
  const simulator = new UpstreamSimulator({ ...options, host: '127.0.0.1' });
  await simulator.start();
  process.send!({ type: 'ready', origin: simulator.origin, port: simulator.port, caPem: simulator.caPem });
  process.on('message', (command: SimulatorCommand) => {
    try {
      if (command.type === 'reset') simulator.resetCounters();
      if (command.type === 'configure') simulator.configure(command.timing);
      process.send!({ id: command.id, result: command.type === 'configure' ? simulator.timing : simulator.counters() });
    } catch (error) {
      process.send!({ id: command.id, error: (error as Error).message });
    }
  });
  // The bench owns this process: it ends when the bench goes, whatever happened to the bench.
  process.once('disconnect', () => void simulator.stop().then(() => process.exit(0)));
}

main().catch((error: unknown) => {
  process.stderr.write(`simulator-process: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
