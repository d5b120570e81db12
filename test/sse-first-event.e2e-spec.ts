import { connect } from 'node:net';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, postJson, routesTo } from './support/service-harness';
import { spawnLiveService, type SpawnedService } from './support/spawn-service';

const QUESTION = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen';
const STREAMS = 10;
// Scheduling across two processes is not exact: an odd stream may still see its first event arrive with the
// next ones. One writev for everything (the old writer) makes it 0 of 10.
const MIN_SEPARATE_FIRST_EVENTS = 6;

/** One SSE event as the caller read it: its data, and which of the socket's reads completed it. */
interface ReadEvent {
  data: string;
  read: number;
}

/**
 * A streamed chat completion over a raw socket, so each read is what one `recv` got: `fetch` or
 * `http.request` would hand over a read's chunked-encoding pieces as separate 'data' events.
 */
function streamOverSocket(url: string, body: unknown): Promise<{ head: string; events: ReadEvent[] }> {
  const { hostname, port } = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const reads: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
      );
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error('the stream did not end within 5 s')));
    socket.on('data', (chunk: Buffer) => reads.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseChunkedSse(reads));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The response head, and the body's SSE events each tagged with the index of the read that delivered its last byte. */
function parseChunkedSse(reads: Buffer[]): { head: string; events: ReadEvent[] } {
  const raw = Buffer.concat(reads);
  const readOf: number[] = [];
  reads.forEach((read, index) => read.forEach(() => readOf.push(index)));
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no response head in ${JSON.stringify(raw.toString('latin1'))}`);
  const head = raw.subarray(0, headEnd).toString('latin1');
  if (!/^transfer-encoding: chunked$/im.test(head)) throw new Error(`expected a chunked response, got:\n${head}`);

  // De-chunk, remembering for every body byte where it sat in the raw stream.
  const body: number[] = [];
  const bodyAt: number[] = [];
  let at = headEnd + 4;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (lineEnd < 0 || Number.isNaN(size)) throw new Error('malformed chunked encoding');
    if (size === 0) break;
    for (let i = lineEnd + 2; i < lineEnd + 2 + size; i++) {
      body.push(raw[i]);
      bodyAt.push(i);
    }
    at = lineEnd + 2 + size + 2;
  }

  const text = Buffer.from(body).toString('latin1');
  const events: ReadEvent[] = [];
  let start = 0;
  for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
    const block = text.slice(start, end);
    const data = block.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
    events.push({ data: Buffer.from(data, 'latin1').toString('utf8'), read: readOf[bodyAt[end + 1]] });
    start = end + 2;
  }
  if (start !== text.length) throw new Error(`the body ends inside an event: ${JSON.stringify(text.slice(start))}`);
  return { head, events };
}

// The upstream is unpaced, so all its events reach the service in one read. The service used to handle
// them all in that one turn and send them, headers included, in one writev: the caller's first token
// waited for the last (measured before the fix: all 18 events in the caller's first read, 10 streams of
// 10; only the [DONE] came later). Checked against a separate process, as a caller sees it: in-process,
// one read would take both writes.
describe('a streamed completion from an unpaced upstream', () => {
  let simulator: UpstreamSimulator;
  let service: (SpawnedService & { url: string }) | undefined;

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ ttftMs: 5, tokensPerSecond: 0 });
    await simulator.start();
    service = await spawnLiveService(routesTo(simulator));
  }, 30_000);
  afterAll(async () => {
    service?.child.kill('SIGKILL');
    await service?.exited;
    await simulator.stop();
  });

  it('sends the first event on its own, then the rest, complete and in order', async () => {
    const request = chat(QUESTION, { model: 'sim/sim-1', max_tokens: 16 });
    const whole = await postJson(`${service!.url}/v1/chat/completions`, request);
    expect(whole.status).toBe(200);
    const answer: string = whole.json.choices[0].message.content;
    expect(answer.length).toBeGreaterThan(0);

    const separateFirstEvents: boolean[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const { head, events } = await streamOverSocket(service!.url, { ...request, stream: true });
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toMatch(/^content-type: text\/event-stream/im);

      // Nothing lost or reordered: the chunks spell the same answer, then [DONE] closes the stream.
      expect(events.at(-1)!.data).toBe('[DONE]');
      const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data));
      expect(chunks.length).toBeGreaterThan(2);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('')).toBe(answer);
      expect(chunks.at(-1).choices[0].finish_reason).toEqual(expect.any(String));

      const first = events[0].read;
      separateFirstEvents.push(events.filter((event) => event.read === first).length === 1);
    }
    expect(separateFirstEvents.filter(Boolean).length).toBeGreaterThanOrEqual(MIN_SEPARATE_FIRST_EVENTS);
  }, 20_000);
});
