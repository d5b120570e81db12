/**
 * Why an attempt's signal fired. `caller_stalled`: the deadline passed while our own caller had stopped
 * reading the stream (the upstream was waiting on us), so the failure is the caller's, not the upstream's.
 * `shutdown`: our own shutdown cut the call once its grace period was over; not the upstream's failure either.
 */
export type AbortReason = 'deadline' | 'idle' | 'caller' | 'caller_stalled' | 'shutdown';

/** One attempt's timers: the whole-call deadline, the idle-read timer and the caller's signal, as one AbortSignal. */
export interface AttemptTimers {
  signal: AbortSignal;
  /** Why the signal fired, if it did. */
  reason(): AbortReason | undefined;
  /** A byte arrived: restart the idle timer. */
  touch(): void;
  /** Our reader stopped taking bytes (backpressure): the upstream is not silent, we are not asking. Stops the idle timer. */
  pauseIdle(): void;
  /** Our reader asks for bytes again: the upstream gets a fresh idle window from now. */
  resumeIdle(): void;
  dispose(): void;
}

/**
 * Starts an attempt's timers. `idleMs` applies only when given (streams): between
 * bytes, and before the response headers, and only while our side is reading.
 */
export function startAttemptTimers(
  deadlineAt: number,
  idleMs: number | undefined,
  callerSignal?: AbortSignal,
  shutdownSignal?: AbortSignal,
): AttemptTimers {
  const controller = new AbortController();
  let reason: AbortReason | undefined;
  let idlePaused = false;
  const abort = (why: AbortReason) => {
    if (reason) return;
    reason = why;
    controller.abort(new Error(why));
  };
  // The whole-call deadline still applies to a caller that stopped reading: it must not hold the slot forever.
  const deadline = setTimeout(() => abort(idlePaused ? 'caller_stalled' : 'deadline'), Math.max(0, deadlineAt - Date.now()));
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    if (idleMs === undefined || reason || idlePaused) return;
    clearTimeout(idle);
    idle = setTimeout(() => abort('idle'), idleMs);
  };
  touch();
  const onCaller = () => abort('caller');
  if (callerSignal?.aborted) onCaller();
  else callerSignal?.addEventListener('abort', onCaller, { once: true });
  const onShutdown = () => abort('shutdown');
  if (shutdownSignal?.aborted) onShutdown();
  else shutdownSignal?.addEventListener('abort', onShutdown, { once: true });
  return {
    signal: controller.signal,
    reason: () => reason,
    touch,
    pauseIdle: () => {
      if (idleMs === undefined || idlePaused) return;
      idlePaused = true;
      clearTimeout(idle);
    },
    resumeIdle: () => {
      if (!idlePaused) return;
      idlePaused = false;
      touch();
    },
    dispose: () => {
      clearTimeout(deadline);
      clearTimeout(idle);
      callerSignal?.removeEventListener('abort', onCaller);
      shutdownSignal?.removeEventListener('abort', onShutdown);
    },
  };
}
