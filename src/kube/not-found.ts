// "Absent" is an answer, not a failure, for callers that treat a missing object as a state
// (a Secret not created yet, a webhook configuration not installed yet).
import { statusCode } from './errors.ts';

/** The call's result, or undefined when the API server answered 404; other errors propagate. */
export async function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}
