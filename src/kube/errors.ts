// What the API server answered when it did not answer 2xx: client-node's ApiException and
// watch errors carry the HTTP status under different names, chaingate's own streamed lists
// under a third; callers ask one question, statusCode(err).

/** A non-2xx answer of the API server, with its HTTP status as `code` (like client-node's ApiException). */
export class ApiStatusError extends Error {
  override name = 'ApiStatusError';
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** HTTP status of a client-node error (ApiException.code) or of a watch error (statusCode). */
export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}
