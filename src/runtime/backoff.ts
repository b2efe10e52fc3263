// Capped exponential backoff, the one rule every retry loop here uses (informer restarts, work
// queue retries, API discovery): double the wait after each failure, never past the cap.

/** The wait before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(initialMs * 2 ** Math.max(0, attempt), maxMs);
}

/** The wait after `currentMs`: doubled, at most `maxMs`. */
export function nextBackoff(currentMs: number, maxMs: number): number {
  return Math.min(currentMs * 2, maxMs);
}
