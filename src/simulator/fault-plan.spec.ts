import { FaultPlan, parseFaultOptions } from './fault-plan';

describe('FaultPlan', () => {
  it('applies a counted fault to that many requests, then clears', () => {
    const plan = new FaultPlan();
    plan.set({ status: 500, count: 2 });
    expect(plan.take('/v1/chat/completions')).toEqual({ status: 500, count: 2 });
    expect(plan.current()).toEqual({ status: 500, count: 1 });
    expect(plan.take('/v1/messages')?.status).toBe(500);
    expect(plan.take('/v1/messages')).toBeUndefined();
    expect(plan.current()).toBeNull();
  });

  it('applies an uncounted fault until cleared, only on matching paths', () => {
    const plan = new FaultPlan();
    plan.set({ reset: true, path: '/messages' });
    expect(plan.take('/v1/chat/completions')).toBeUndefined();
    for (let index = 0; index < 5; index++) expect(plan.take('/v1/messages')?.reset).toBe(true);
    plan.set(null);
    expect(plan.take('/v1/messages')).toBeUndefined();
  });

  it('treats count 0 and {} as no fault', () => {
    const plan = new FaultPlan();
    plan.set({ status: 500, count: 0 });
    expect(plan.take('/v1/messages')).toBeUndefined();
    plan.set({});
    expect(plan.current()).toBeNull();
  });
});

describe('parseFaultOptions', () => {
  it('accepts valid options and maps null or {} to no fault', () => {
    expect(parseFaultOptions({ status: 429, retryAfterS: 1, count: 3, path: '/embeddings' })).toEqual({
      status: 429,
      retryAfterS: 1,
      count: 3,
      path: '/embeddings',
    });
    expect(parseFaultOptions(null)).toBeNull();
    expect(parseFaultOptions({})).toBeNull();
  });

  it('accepts the hostile upstream options, a redirect only as a 3xx', () => {
    const hostile = { bodyBytes: 200_000_000, endlessBody: true, unterminatedSse: true, redirectStatus: 302 };
    expect(parseFaultOptions(hostile)).toEqual(hostile);
    expect(() => parseFaultOptions({ redirectStatus: 200, bodyBytes: -1 })).toThrow(
      'redirectStatus: expected an HTTP redirect status (300-399); bodyBytes: expected a non-negative integer',
    );
  });

  it('names every bad or unknown field', () => {
    expect(() => parseFaultOptions({ status: 200, stallMs: -1, resett: true })).toThrow(
      'status: expected an HTTP error status (400-599); stallMs: expected a non-negative number; resett: unknown fault option',
    );
    expect(() => parseFaultOptions([1])).toThrow('faults must be a JSON object or null');
  });
});
