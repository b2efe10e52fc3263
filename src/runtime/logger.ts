import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * JSON lines on stdout; object bodies are never logged, only identifiers and outcomes.
 *
 * Written asynchronously: with one line per review, a synchronous write per line was the
 * largest share of the webhook's CPU after TLS (BENCHMARKS.md, HTTPS server). Lines written
 * while one write is in flight go out together; pino flushes what is left when the process exits.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'chaingate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
