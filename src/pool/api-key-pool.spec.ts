import { Logger } from '@nestjs/common';
import { ApiKeyPool } from './api-key-pool';

const REST = { keyRestMs: 1_000, keyRestMaxMs: 5_000 };

describe('ApiKeyPool', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  /** Takes a key at `now` and answers `status` to it, as a call would. */
  function call(pool: ApiKeyPool, status: number, now: number) {
    const lease = pool.acquire(now);
    if (lease) {
      pool.answered(lease.index, status, now);
      lease.release();
    }
    return lease;
  }

  it('rests a refused key, probes it once the rest is over, and restores it when the probe is accepted', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b'], REST);
    expect(call(pool, 401, 0)?.index).toBe(0);
    expect(pool.snapshot(0).keys[0]).toMatchObject({ position: 1, state: 'refused', consecutiveRefusals: 1, lastStatus: 401, restMsLeft: 1_000 });
    // While it rests, every call takes the other key.
    expect(pool.acquire(999)?.index).toBe(1);

    const probe = pool.acquire(1_000)!;
    expect(probe).toMatchObject({ index: 0, probe: true });
    expect(pool.snapshot(1_000).keys[0]).toMatchObject({ state: 'probing', probeInFlight: true });
    // One probe at a time: the next call goes to the active key.
    expect(pool.acquire(1_000)).toMatchObject({ index: 1, probe: false });
    pool.answered(probe.index, 200, 1_100);
    probe.release();
    expect(pool.snapshot(1_100).keys[0]).toMatchObject({ state: 'active', consecutiveRefusals: 0, lastStatus: 200, restingUntil: null });
  });

  it('doubles the rest on each refusal in a row, up to the cap, and never disables a key for good', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b'], REST);
    pool.answered(1, 200, 0);
    const rests: number[] = [];
    let now = 0;
    for (let i = 0; i < 5; i++) {
      const lease = pool.acquire(now)!;
      expect(lease.index).toBe(0); // a probe (or the first call) of the refused key
      pool.answered(0, 403, now);
      lease.release();
      rests.push(pool.snapshot(now).keys[0].restMsLeft);
      now += rests[i];
    }
    expect(rests).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(pool.snapshot(now).keys[0]).toMatchObject({ state: 'probing', consecutiveRefusals: 5 });
  });

  it('counts refusals answered to calls already in flight on a resting key as one', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b'], REST);
    const leases = [pool.acquire(0)!, pool.acquire(0)!, pool.acquire(0)!].filter((lease) => lease.index === 0);
    expect(leases.length).toBeGreaterThan(1);
    for (const lease of leases) pool.answered(lease.index, 401, 10);
    expect(pool.snapshot(10).keys[0]).toMatchObject({ consecutiveRefusals: 1, restMsLeft: 1_000 });
  });

  it('reports every key refused, with the statuses and the next probe, and nothing usable', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b'], REST);
    call(pool, 401, 0);
    call(pool, 403, 200);
    expect(pool.acquire(300)).toBeUndefined();
    expect(pool.allRefused(300)).toEqual({ total: 2, statuses: [401, 403], nextProbeInMs: 700 });
    expect(pool.nextUsableInMs(300)).toBe(700);
    expect(pool.snapshot(300)).toMatchObject({ total: 2, usable: 0, refused: 2, rateLimited: 0 });
    // Once a rest is over the key may be probed: no longer "all refused".
    expect(pool.allRefused(1_000)).toBeUndefined();
  });

  it('puts refused keys back at once on an operator request, one position or all', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b', 'key-c'], REST);
    for (let i = 0; i < 3; i++) call(pool, 401, 0);
    expect(pool.enable(2)).toEqual([2]);
    expect(pool.snapshot(0).keys.map((k) => k.state)).toEqual(['refused', 'active', 'refused']);
    expect(pool.enable()).toEqual([1, 3]);
    expect(pool.snapshot(0)).toMatchObject({ usable: 3, refused: 0 });
  });

  it('keeps a lone key in use after a refusal: there is no other to try', () => {
    const pool = new ApiKeyPool('up', ['key-a'], REST);
    call(pool, 401, 0);
    expect(pool.acquire(1)?.index).toBe(0);
    expect(pool.snapshot(1).keys[0]).toMatchObject({ state: 'active', consecutiveRefusals: 1, lastStatus: 401 });
    expect(pool.allRefused(1)).toBeUndefined();
  });

  it('rests a rate-limited key for the Retry-After, and shows no key value', () => {
    const pool = new ApiKeyPool('up', ['key-a', 'key-b'], REST);
    pool.rateLimited(0, 2_000, 0);
    expect(pool.acquire(1)?.index).toBe(1);
    expect(pool.snapshot(1)).toMatchObject({ usable: 1, rateLimited: 1 });
    expect(JSON.stringify(pool.snapshot(1))).not.toContain('key-');
  });
});
