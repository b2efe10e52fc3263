// The HTTPS side: a thin layer that turns AdmissionReviews into typed calls of the decision
// handler and decisions back into AdmissionReviews (the shape of controller-runtime's
// pkg/webhook/admission). It knows nothing of chains or Kubernetes clients.
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyError, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { AdmittedKind } from '../rules/decide.ts';
import type { AdmissionInput, Decision } from '../rules/types.ts';
import type { KeyPair } from '../certs/cert-watcher.ts';
import { admissionInput, checkEnvelope, toReview, type AdmissionRequest, type ReviewVersion } from './admission-review.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { readTextBody } from './json-body.ts';

/** Kubernetes caps an admission request at 3 MiB of object twice over; SPEC asks for 7 MiB. */
export const BODY_LIMIT_BYTES = 7 * 1024 * 1024;

/** ECDHE with AEAD only: what Kubernetes' own servers offer for TLS 1.2. */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const ROUTES: Record<string, AdmittedKind> = {
  '/validate/clusterdeployments': 'ClusterDeployment',
  '/validate/multiclusterservices': 'MultiClusterService',
  '/validate/servicetemplatechains': 'ServiceTemplateChain',
};

export type AdmissionHandler = (
  kind: AdmittedKind,
  input: AdmissionInput,
  request: AdmissionRequest,
) => Decision | Promise<Decision>;

export interface AdmissionServerOptions {
  keyPair: KeyPair;
  handler: AdmissionHandler;
  logger: Logger;
  metrics: Metrics;
  /** Optional CA bundle: when set, clients (the apiserver) must present a certificate it signed. */
  clientCA?: string;
  /** Connection limits (defaults: CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  /**
   * True once the server is shutting down: every answer then closes its connection, so that
   * clients that have not yet seen the readiness change reconnect (to this replica until it
   * closes, then to another) instead of reusing a keep-alive connection that close() would
   * reset under their next request. Asked per answer, in the route (an onSend hook would put
   * every review through fastify's hook runner for this one flag).
   */
  closing?: () => boolean;
}

/**
 * What one client may hold of the HTTPS port. A client that sends nothing, or sends slowly,
 * is closed at a deadline instead of holding a socket (and its TLS state, ~0.1 MiB) for ever.
 */
export interface ConnectionLimits {
  /**
   * Deadline of the TLS handshake (from accept), of the request headers and of the whole
   * request (both from the request's first byte, or from the end of the handshake for a
   * connection's first request). Past it: 408 and the connection is closed.
   */
  requestTimeoutMs: number;
  /**
   * How long a keep-alive connection may stay idle between requests. kube-apiserver's webhook
   * client is a Go http.Transport built by client-go's transport cache with
   * utilnet.SetTransportDefaults, whose SetOldTransportDefaults
   * (k8s.io/apimachinery/pkg/util/net/http.go) copies IdleConnTimeout from http.DefaultTransport:
   * 90 s. The server's bound must be longer, so that the client, not the server, closes an idle
   * connection: a server closing first can cut a review the client has just written on it (the
   * client sees a reset, and the API server fails the call). 100 s leaves 10 s of timer skew.
   */
  keepAliveTimeoutMs: number;
  /** Open connections at most (TLS or not yet); past it new connections are closed at accept. */
  maxConnections: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 100_000,
  maxConnections: 1_000,
};

/** Why the server closed a connection (label of chaingate_connections_closed_total). */
export type CloseReason = 'headers_timeout' | 'request_timeout' | 'idle' | 'handshake_timeout' | 'max_connections';

export function tlsOptions(keyPair: Pick<KeyPair, 'key' | 'cert'>, clientCA?: string) {
  return {
    key: keyPair.key,
    cert: keyPair.cert,
    minVersion: 'TLSv1.2' as const,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    ...(clientCA ? { ca: clientCA, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

export async function buildAdmissionServer(options: AdmissionServerOptions) {
  const { handler, logger, metrics } = options;
  const closing = options.closing ?? (() => false);
  const counters = admissionCounters(metrics);
  const limits = { ...CONNECTION_LIMITS, ...options.limits };
  const app = Fastify({
    // Fastify hands these to https.createServer as they are, HTTP server options included.
    https: {
      ...tlsOptions(options.keyPair, options.clientCA),
      handshakeTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks the two timeouts above only this often (default 30 s: a 10 s deadline was
      // enforced at 30-40 s). A quarter of the deadline, at most 1 s: closed by deadline + 1 s.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.requestTimeoutMs / 4))),
    },
    bodyLimit: BODY_LIMIT_BYTES,
    loggerInstance: logger,
    // One line per review is logged by the route itself, with the decision in it.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: the routes log with the server's logger and their own
    // fields (uid, kind), and a pino child per review cost more than the line it never writes.
    childLoggerFactory: (parent) => parent,
    // Fastify sets these on the server after creating it (its requestTimeout overrides the one above).
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Count the connections Node's request and header timeouts close, then answer as Fastify does.
    clientErrorHandler(err, socket) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT' && !socket.destroyed) {
        // parser.incoming is the request once its headers are parsed, until it completes.
        const incoming = (socket as unknown as { parser?: { incoming?: { complete: boolean } | null } }).parser?.incoming;
        metrics.connectionsClosed.inc({ reason: incoming && !incoming.complete ? 'request_timeout' : 'headers_timeout' });
        const body = '{"error":"Request Timeout","message":"Client Timeout","statusCode":408}';
        if (socket.writable) {
          socket.write(`HTTP/1.1 408 Request Timeout\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
        }
        socket.destroy();
        return;
      }
      answerClientError(err, socket);
    },
    forceCloseConnections: 'idle',
    // A review that arrives while closing is still answered (a bare 503 is no AdmissionReview:
    // the API server would fail the call); run.ts closes connections after each answer then.
    return503OnClosing: false,
  });

  const server = app.server as HttpsServer;
  server.maxConnections = limits.maxConnections;
  // Node closes a connection over maxConnections at accept and says so with 'drop'.
  server.on('drop', () => metrics.connectionsClosed.inc({ reason: 'max_connections' }));
  // A client that connects and never completes the handshake (no ClientHello at all, say).
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.connectionsClosed.inc({ reason: 'handshake_timeout' });
    socket.destroy();
  });
  // A keep-alive connection idle past keepAliveTimeout: Node would destroy it on its socket
  // timeout; with a 'timeout' listener that is left to the listener (fastify's connectionTimeout
  // is 0, so this timeout is only ever the keep-alive one).
  server.on('timeout', (socket: Socket) => {
    metrics.connectionsClosed.inc({ reason: 'idle' });
    socket.destroy();
  });

  // application/json only (Fastify's default text/plain parser would hand the route a string).
  // Plain JSON.parse cannot pollute a prototype: checkEnvelope then refuses "__proto__" and
  // "constructor.prototype" keys and over-deep nesting with code 400, the uid still echoed
  // (Fastify's own parser answered those as "not valid JSON", or stripped the keys silently).
  // Syntax errors are reported without V8's excerpt of the body, so no object content reaches the logs.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (_request, payload, done) => {
    readTextBody(payload, BODY_LIMIT_BYTES, (error, text) => {
      if (error) return done(error, undefined);
      if (!text) return done(bodyError('FST_ERR_CTP_EMPTY_JSON_BODY', 'empty body'), undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(bodyError('CHAINGATE_INVALID_JSON', describeSyntaxError(err as Error)), undefined);
      }
    });
  });

  // Every failure on an admission route still answers with an AdmissionReview, so the
  // apiserver shows the user a reason instead of "failed calling webhook".
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const kind = ROUTES[request.routeOptions.url ?? ''] ?? 'unknown';
    const message = describeTransportError(error);
    metrics.admissionRequests.inc({ kind, decision: 'malformed' });
    logger.warn({ kind, code: error.code, reason: message }, 'admission request rejected');
    return sendReview(reply, 'admission.k8s.io/v1', '', { allowed: false, code: 400, message }, closing());
  });

  for (const [url, kind] of Object.entries(ROUTES)) {
    const count = counters[kind];
    // Not an async function: a decision that needs no live read is answered in the same tick,
    // without the promises an async route and an awaited handler cost every review.
    app.post(url, (request, reply) => {
      const started = performance.now();
      const check = checkEnvelope(request.body);
      if (!check.ok) {
        count.malformed.inc();
        logger.warn({ uid: check.uid, kind, reason: check.message }, 'malformed AdmissionReview');
        return sendReview(reply, check.version, check.uid, { allowed: false, code: 400, message: check.message }, closing());
      }
      const { apiVersion, request: review } = check.review;
      const answer = (decision: Decision): FastifyReply => {
        const seconds = (performance.now() - started) / 1e3;
        const outcome = decision.allowed ? 'allowed' : decision.code === 400 ? 'malformed' : 'denied';
        count[outcome].inc();
        count.duration.observe(seconds);
        // Allowed reviews are the bulk and say nothing an operator acts on (the API server's audit
        // log has them): they log at debug, like controller-runtime's webhooks. A line per review
        // was about a quarter of the CPU a review costs (BENCHMARKS.md, HTTPS server).
        const level = decision.allowed ? 'debug' : 'info';
        if (logger.isLevelEnabled(level)) {
          logger[level](
            {
              uid: review.uid,
              kind,
              operation: review.operation,
              object: review.namespace ? `${review.namespace}/${review.name ?? ''}` : (review.name ?? ''),
              decision: outcome,
              code: decision.code,
              durationMs: Math.round(seconds * 1e6) / 1e3,
            },
            'admission',
          );
        }
        return sendReview(reply, apiVersion, review.uid, decision, closing());
      };
      const decision = decideSafely(kind, review, handler, logger);
      return decision instanceof Promise ? decision.then(answer) : answer(decision);
    });
  }
  return app;
}

/**
 * The metric children each route updates, looked up once: prom-client hashes a label object on
 * every inc() and observe() that names its labels, a child is the counter itself.
 */
function admissionCounters(metrics: Metrics) {
  const forKind = (kind: AdmittedKind) => ({
    allowed: metrics.admissionRequests.labels({ kind, decision: 'allowed' }),
    denied: metrics.admissionRequests.labels({ kind, decision: 'denied' }),
    malformed: metrics.admissionRequests.labels({ kind, decision: 'malformed' }),
    duration: metrics.admissionDuration.labels({ kind }),
  });
  return Object.fromEntries(Object.values(ROUTES).map((kind) => [kind, forKind(kind)])) as Record<AdmittedKind, ReturnType<typeof forKind>>;
}

/** The handler's decision, or a refusal that says what failed; synchronous when the handler is. */
function decideSafely(
  kind: AdmittedKind,
  review: AdmissionRequest,
  handler: AdmissionHandler,
  logger: Logger,
): Decision | Promise<Decision> {
  if (review.kind.kind !== kind) {
    return { allowed: false, code: 400, message: `this endpoint admits ${kind}, not ${review.kind.kind}` };
  }
  // A bug must not become an outage or an unexplained refusal: say what failed.
  const failed = (err: unknown): Decision => {
    logger.error({ uid: review.uid, kind, err: (err as Error).message }, 'admission handler failed');
    return { allowed: false, code: 500, message: `chaingate internal error: ${(err as Error).message}` };
  };
  try {
    const decision = handler(kind, admissionInput(review), review);
    return decision instanceof Promise ? decision.catch(failed) : decision;
  } catch (err) {
    return failed(err);
  }
}

export type AdmissionApp = Awaited<ReturnType<typeof buildAdmissionServer>>;

/** The answer as a string: fastify sends a string as it is, an object through its serializer. */
function sendReview(reply: FastifyReply, version: ReviewVersion, uid: string, decision: Decision, close: boolean) {
  if (close) reply.header('connection', 'close');
  return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(toReview(version, uid, decision)));
}

function describeTransportError(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `AdmissionReview body exceeds ${BODY_LIMIT_BYTES} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type: send the AdmissionReview as application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'empty body: expected an AdmissionReview';
    case 'CHAINGATE_INVALID_JSON':
      return error.message;
    default:
      if (error.statusCode === 400 || error instanceof SyntaxError) return `malformed JSON: ${error.message}`;
      return `request failed: ${error.message}`;
  }
}

/** Fastify's default clientError answer (fastify.js defaultClientErrorHandler), which it does not export. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, status, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large', 'Exceeded maximum allowed HTTP header size']
    : [400, 'Bad Request', 'Client Error'];
  const body = `{"error":"${status}","message":"${message}","statusCode":${code}}`;
  if (socket.writable) socket.write(`HTTP/1.1 ${code} ${status}\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}`);
  socket.destroy(err);
}

function bodyError(code: string, message: string): FastifyError {
  return Object.assign(new Error(message), { code, statusCode: 400, name: 'FastifyError' }) as FastifyError;
}

/** V8's message quotes part of the body; keep only the position. */
function describeSyntaxError(err: Error): string {
  if (/end of JSON input/i.test(err.message)) return 'malformed JSON: the body ends before the JSON value does';
  const position = /at position (\d+)/.exec(err.message)?.[1];
  return `malformed JSON: the body is not valid JSON${position ? ` (at character ${position})` : ''}`;
}

/** Swaps the certificate of a running server: new handshakes get it, open connections keep theirs. */
export function rotateServingCertificate(app: { server: unknown }, keyPair: KeyPair, clientCA?: string): void {
  (app.server as HttpsServer).setSecureContext(tlsOptions(keyPair, clientCA));
}
