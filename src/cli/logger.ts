import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** JSON lines on stdout; object bodies are never logged, only identifiers and outcomes. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'chaingate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
