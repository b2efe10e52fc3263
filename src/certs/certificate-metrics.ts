// The Prometheus side of `--cert-mode self`: when the served certificate expires, which
// rotation steps this replica wrote, and how many reconcile ticks failed. Without a registry
// (tests, embedding) every method does nothing.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface CertificateMetrics {
  stepWritten(step: string): void;
  tickFailed(): void;
}

/** `servedNotAfter` is read at scrape time. */
export function certificateMetrics(registry: Registry | undefined, servedNotAfter: () => Date | undefined): CertificateMetrics {
  if (!registry) return { stepWritten: () => undefined, tickFailed: () => undefined };
  new Gauge({
    name: 'chaingate_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate this replica serves, in Unix seconds.',
    registers: [registry],
    collect() {
      const notAfter = servedNotAfter();
      if (notAfter) this.set(notAfter.getTime() / 1000);
    },
  });
  const steps = new Counter({
    name: 'chaingate_certificate_rotation_steps_total',
    help: 'Certificate Secret writes made by this replica, by step (create, prepare, promote, retire, ...).',
    labelNames: ['step'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'chaingate_certificate_sync_errors_total',
    help: 'Certificate reconcile ticks that failed (the next tick retries).',
    registers: [registry],
  });
  return { stepWritten: (step) => steps.inc({ step }), tickFailed: () => errors.inc() };
}
