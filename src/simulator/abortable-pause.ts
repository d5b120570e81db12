/**
 * Waits `ms`, or until the request is abandoned, whichever comes first; never
 * rejects, so a client going away is a normal outcome, not an exception. An
 * undefined or infinite `ms` waits for the abort alone (a stall "forever").
 */
export function pause(ms: number | undefined, signal: AbortSignal): Promise<void> {
  if (signal.aborted || (ms !== undefined && Number.isFinite(ms) && ms <= 0)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    // setTimeout would clamp an infinite delay to 1 ms, so "forever" sets no timer at all.
    const timer = ms !== undefined && Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    signal.addEventListener('abort', done, { once: true });
  });
}
