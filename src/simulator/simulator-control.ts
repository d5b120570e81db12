import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseFaultOptions } from './fault-plan';
import { sendJson } from './json-response';
import { readJsonBody } from './request-body';
import type { TimingOptions, UpstreamSimulator } from './upstream-simulator';

// Control bodies are a few fields; anything bigger is a mistake.
const CONTROL_BODY_LIMIT_BYTES = 64 * 1024;
const TIMING_KEYS: ReadonlyArray<keyof TimingOptions> = ['ttftMs', 'tokensPerSecond', 'latencyMs', 'keepAliveTimeoutMs'];

function error(response: ServerResponse, status: number, message: string): void {
  sendJson(response, status, { error: { message } });
}

/**
 * The /_sim/* endpoints, so a standalone simulator can be driven with curl:
 * read counters, arm faults, change timing, reset. They bypass faults, latency
 * and API keys, and are not counted as requests.
 */
export async function handleControl(
  simulator: UpstreamSimulator,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
): Promise<void> {
  const route = `${request.method} ${path}`;
  if (route === 'GET /_sim/stats') return sendJson(response, 200, simulator.counters());
  if (route === 'GET /_sim/faults') return sendJson(response, 200, { faults: simulator.activeFaults() });
  if (route === 'GET /_sim/config') return sendJson(response, 200, simulator.timing);
  if (route === 'GET /_sim/ca') {
    const pem = simulator.caPem;
    if (!pem) return error(response, 404, 'The simulator is not running with TLS');
    response.writeHead(200, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem) });
    return void response.end(pem);
  }
  if (route === 'POST /_sim/reset') {
    simulator.resetCounters();
    return sendJson(response, 200, simulator.counters());
  }
  if (route !== 'POST /_sim/faults' && route !== 'POST /_sim/config') {
    return error(response, 404, `Unknown control endpoint: ${route}`);
  }

  const body = await readJsonBody(request, CONTROL_BODY_LIMIT_BYTES);
  if (!body.ok) return error(response, body.status, body.message);
  try {
    if (route === 'POST /_sim/faults') {
      simulator.setFaults(parseFaultOptions(body.value));
      return sendJson(response, 200, { faults: simulator.activeFaults() });
    }
    const timing = (body.value ?? {}) as Record<string, unknown>;
    if (typeof timing !== 'object' || Array.isArray(timing)) throw new TypeError('config must be a JSON object');
    const unknown = Object.keys(timing).filter((key) => !TIMING_KEYS.includes(key as keyof TimingOptions));
    if (unknown.length > 0) throw new TypeError(`${unknown.join(', ')}: unknown option (expected ${TIMING_KEYS.join(', ')})`);
    simulator.configure(timing as Partial<TimingOptions>);
    return sendJson(response, 200, simulator.timing);
  } catch (problem) {
    return error(response, 400, (problem as Error).message);
  }
}
