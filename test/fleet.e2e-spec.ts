import { getJson, postJson, requestJson, runConcurrently } from './support/service-harness';
import { startPostgres, type PostgresCluster } from './support/engines';
import { startInstance, type Instance } from './support/fleet';

/**
 * Two real service processes sharing one PostgreSQL: what one acknowledges, the other serves,
 * across restarts and a crash.
 */
describe('fleet: two service processes, one PostgreSQL', () => {
  let pg: PostgresCluster | undefined;
  let a: Instance | undefined;
  let b: Instance | undefined;

  beforeAll(async () => {
    pg = await startPostgres();
    if (!pg) return;
    const env = { DATABASE_URL: await pg.createDatabase() };
    // One after the other would hide the race: both boot (and migrate) at once.
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await pg?.stop();
  }, 60_000);

  const index = (instance: Instance, documents: unknown[]) => postJson(`${instance.url}/v1/documents`, { documents });
  const search = async (instance: Instance, query: string) => (await postJson(`${instance.url}/v1/search`, { query, topK: 50 })).json;
  const get = (instance: Instance, id: string) => getJson(`${instance.url}/v1/documents/${id}`);

  it('serves on B at once a document written via A; a deletion via B is gone on A', async () => {
    if (!a || !b) return;
    expect((await index(a, [{ id: 'eiffel', title: 'Eiffel Tower', text: 'The Eiffel Tower is in Paris.', metadata: { lang: 'en' } }])).status).toBe(201);
    expect((await get(b, 'eiffel')).json).toEqual({ id: 'eiffel', title: 'Eiffel Tower', text: 'The Eiffel Tower is in Paris.', metadata: { lang: 'en' }, embedded: false });
    expect((await search(b, 'where is the eiffel tower')).hits.map((hit: { id: string }) => hit.id)).toEqual(['eiffel']);

    expect((await requestJson('DELETE', `${b.url}/v1/documents/eiffel`)).status).toBe(200);
    expect((await get(a, 'eiffel')).status).toBe(404);
    expect((await search(a, 'eiffel')).hits).toEqual([]);
    expect((await requestJson('DELETE', `${a.url}/v1/documents/eiffel`)).status).toBe(404);
  });

  it('keeps the documents when both restart', async () => {
    if (!a || !b) return;
    await index(a, [{ id: 'via-a', text: 'written through instance a' }]);
    await index(b, [{ id: 'via-b', text: 'written through instance b' }]);
    await Promise.all([a.restart(), b.restart()]);
    for (const instance of [a, b]) {
      expect((await search(instance, 'written through instance')).hits.map((hit: { id: string }) => hit.id).sort()).toEqual(['via-a', 'via-b']);
    }
  }, 120_000);

  it('loses nothing A acknowledged when A is killed (SIGKILL) during writes', async () => {
    if (!a || !b) return;
    const acknowledged: string[] = [];
    let killed = false;
    let next = 0;
    const writer = async () => {
      while (!killed) {
        const id = `crash-${next++}`;
        const response = await index(a!, [{ id, text: `written while crashing ${id}` }]).catch(() => undefined);
        if (response?.status === 201) acknowledged.push(id);
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    while (acknowledged.length < 150) await new Promise((resolve) => setTimeout(resolve, 5));
    a.kill('SIGKILL');
    killed = true;
    await Promise.all(writers);

    const missing = (
      await runConcurrently(acknowledged.length, 8, async (i) => ((await get(b!, acknowledged[i])).status === 200 ? undefined : acknowledged[i]))
    ).filter(Boolean);
    expect({ acknowledged: acknowledged.length >= 150, missing }).toEqual({ acknowledged: true, missing: [] });
    await a.restart(); // the fleet heals: A answers again, from the same database
    expect((await get(a, acknowledged[0])).status).toBe(200);
  }, 120_000);
});
