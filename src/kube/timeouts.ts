// A deadline on every outbound call, shorter than the apiserver's webhook timeout, so that a
// slow API server never turns into a webhook timeout.

export const CALL_TIMEOUT_MS = 3_000;

export class CallTimeoutError extends Error {
  override name = 'CallTimeoutError';
}

/** Resolves or rejects within `ms`; the underlying request is left to finish on its own. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeoutError(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
