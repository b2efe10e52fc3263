// Stand-ins shared by the controller tests: a logger that remembers what it was told, and
// API errors shaped like client-node's (an HTTP status in `code`).
import type { Logger } from 'pino';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

/** A Logger that records every line; only the methods the controller calls exist. */
export function memoryLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
  };
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger: { ...logger, child: () => logger } as unknown as Logger, lines };
}

/** An error as client-node raises it for a non-2xx answer. */
export function apiError(code: number, message = `HTTP ${code}`): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

/** A promise with its resolve/reject outside, to hold a call mid-way. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
