import { parseSimulatorEnv } from './simulator-env';
import { UpstreamSimulator } from './upstream-simulator';

/** Standalone upstream simulator: `npm run simulator`, then point a client at the printed URLs. */
async function main(): Promise<void> {
  const env = parseSimulatorEnv(process.env);
  if (!env.ok) {
    console.error(`Invalid simulator configuration:\n  ${env.problems.join('\n  ')}`);
    process.exit(1);
  }
  const simulator = new UpstreamSimulator(env.options);
  await simulator.start();

  const control = `${simulator.origin}/_sim`;
  const tlsNote = simulator.caPem ? ` (self-signed TLS; CA at GET ${control}/ca)` : '';
  console.log(
    `LLM upstream simulator listening${tlsNote}: OpenAI base ${simulator.openAiBaseUrl}, ` +
      `Anthropic base ${simulator.anthropicBaseUrl}; control: GET ${control}/stats, ` +
      `POST ${control}/faults, POST ${control}/config, POST ${control}/reset`,
  );

  const shutdown = (signal: NodeJS.Signals): void => {
    console.log(`${signal} received, stopping the simulator`);
    // stop() destroys every open socket, so nothing is left to keep the process alive.
    void simulator.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error('The simulator failed to start:', error);
  process.exit(1);
});
