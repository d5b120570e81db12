/** `shutdown`: our own shutdown cut the call once its grace period was over; not the upstream's failure. */
export type AbortReason = 'deadline' | 'idle' | 'caller' | 'shutdown';

/** One attempt's timers: the whole-call deadline, the idle-read timer and the caller's signal, as one AbortSignal. */
export interface AttemptTimers {
  signal: AbortSignal;
  /** Why the signal fired, if it did. */
  reason(): AbortReason | undefined;
  /** A byte arrived: restart the idle timer. */
  touch(): void;
  dispose(): void;
}

/**
 * Starts an attempt's timers. `idleMs` applies only when given (streams): between
 * bytes, and before the response headers.
 */
export function startAttemptTimers(
  deadlineAt: number,
  idleMs: number | undefined,
  callerSignal?: AbortSignal,
  shutdownSignal?: AbortSignal,
): AttemptTimers {
  const controller = new AbortController();
  let reason: AbortReason | undefined;
  const abort = (why: AbortReason) => {
    if (reason) return;
    reason = why;
    controller.abort(new Error(why));
  };
  const deadline = setTimeout(() => abort('deadline'), Math.max(0, deadlineAt - Date.now()));
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    if (idleMs === undefined || reason) return;
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
    dispose: () => {
      clearTimeout(deadline);
      clearTimeout(idle);
      callerSignal?.removeEventListener('abort', onCaller);
      shutdownSignal?.removeEventListener('abort', onShutdown);
    },
  };
}
