// Prometheus metrics for the whole process; one registry so that the webhook, the chain
// cache and the controller all appear on the same /metrics page.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly admissionRequests: Counter<'kind' | 'decision'>;
  readonly admissionDuration: Histogram<'kind'>;
  readonly connectionsClosed: Counter<'reason'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.admissionRequests = new Counter({
      name: 'chaingate_admission_requests_total',
      help: 'AdmissionReviews answered, by admitted kind and decision (allowed, denied, malformed).',
      labelNames: ['kind', 'decision'],
      registers: [this.registry],
    });
    this.admissionDuration = new Histogram({
      name: 'chaingate_admission_duration_seconds',
      help: 'Time from request body parsed to AdmissionReview answered.',
      labelNames: ['kind'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [this.registry],
    });
    this.connectionsClosed = new Counter({
      name: 'chaingate_connections_closed_total',
      help: 'Admission (HTTPS) connections chaingate closed at a limit, by reason: headers_timeout, request_timeout, idle (keep-alive), handshake_timeout, max_connections.',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    // Every reason is on /metrics from the start, at 0.
    for (const reason of ['headers_timeout', 'request_timeout', 'idle', 'handshake_timeout', 'max_connections']) this.connectionsClosed.inc({ reason }, 0);
  }
}
