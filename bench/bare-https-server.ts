// The floors the HTTPS benchmark compares chaingate with, on the same certificate and with
// no framework, logging or metrics:
//   bare-https-server.ts CERT_DIR            reads the body, answers a fixed allowed review
//   bare-https-server.ts CERT_DIR --echo-uid reads the body, answers "allowed" with its request's uid
//   bare-https-server.ts CERT_DIR --parse    reads the body and JSON.parses it, answers a fixed
//                                            review: the floor of any webhook that reads the review
//   bare-https-server.ts CERT_DIR --decide   parses the body, checks the envelope and decides
//                                            with chaingate's own code over the example chains
// The first is the platform's floor; the second is the least any webhook doing chaingate's
// work can cost, so the gap between it and chaingate is what fastify, logs and metrics add.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdmissionHandler } from '../src/webhook/handler.ts';
import { DEFAULT_DECISION_OPTIONS } from '../src/rules/types.ts';
import { admissionInput, checkEnvelope, toReview } from '../src/webhook/admission-review.ts';
import { tlsOptions } from '../src/webhook/admission-server.ts';
import { loadChainFiles } from '../src/sources/chain-files.ts';

const [certDir = 'certs', mode, transport] = process.argv.slice(2);
// `--h2` as a third argument: HTTP/2 offered over ALPN (HTTP/1.1 still accepted), to see whether
// kube-apiserver's webhook client takes it and whether it is faster (bench/through-apiserver.ts).
const h2 = transport === '--h2';
const decideEach = mode === '--decide';
const parseEach = mode === '--parse';
// For kube-apiserver, which refuses an answer whose uid is not its request's: the first "uid"
// in its AdmissionReview is request.uid, found without parsing the body.
const echoUid = mode === '--echo-uid';
const fixedAnswer = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '00000000-0000-4000-8000-000000000000', allowed: true } });
const handler = createAdmissionHandler({
  chains: loadChainFiles(fileURLToPath(new URL('../examples/chains', import.meta.url))),
  options: DEFAULT_DECISION_OPTIONS,
});

async function answer(text: string): Promise<string> {
  const body: unknown = JSON.parse(text);
  if (parseEach) return body === undefined ? '' : fixedAnswer;
  const check = checkEnvelope(body);
  if (!check.ok) return JSON.stringify(toReview(check.version, check.uid, { allowed: false, code: 400, message: check.message }));
  const { apiVersion, request } = check.review;
  const decision = await handler('ClusterDeployment', admissionInput(request));
  return JSON.stringify(toReview(apiVersion, request.uid, decision));
}

const keyPair = { key: readFileSync(join(certDir, 'tls.key'), 'utf8'), cert: readFileSync(join(certDir, 'tls.crt'), 'utf8') };
// What bench/through-apiserver.ts asks for at GET /stats: how kube-apiserver calls a webhook.
const stats = { requests: 0, connections: 0, sessionsReused: 0, alpnOffered: [] as string[][], negotiated: {} as Record<string, number> };
// chaingate's TLS settings (protocol floor, ciphers), so the handshake and record costs match.
// ALPNCallback records what a client offers (kube-apiserver's Go client offers h2 first) and
// picks HTTP/1.1, which is what chaingate's server (HTTP/1.1 only) ends up speaking too.
/** What the handler uses of a response, the same for HTTP/1.1 and the HTTP/2 compatibility API. */
interface Res {
  writeHead(code: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}
const onRequest = (req: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse): void => {
  const res = response as unknown as Res;
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  stats.requests += 1;
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (text += chunk));
  req.on('end', () => {
    const reply = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    };
    if (echoUid) return reply(fixedAnswer.replace('00000000-0000-4000-8000-000000000000', /"uid":"([^"]{1,128})"/.exec(text)?.[1] ?? ''));
    if (!decideEach && !parseEach) return reply(fixedAnswer);
    answer(text).then(reply, (err: Error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(err.message);
    });
  });
};
const alpn = ({ protocols }: { protocols: string[] }) => {
  if (stats.alpnOffered.length < 10) stats.alpnOffered.push(protocols);
  if (h2 && protocols.includes('h2')) return 'h2';
  return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
};
// Node refuses an ALPNCallback beside ALPNProtocols, which the HTTP/2 server sets itself: with
// --h2 only the negotiated protocol is recorded.
const server = h2
  ? createSecureServer({ ...tlsOptions(keyPair), allowHTTP1: true }, onRequest)
  : createServer({ ...tlsOptions(keyPair), ALPNCallback: alpn }, onRequest);
server.on('secureConnection', (socket: TLSSocket) => {
  stats.connections += 1;
  if (socket.isSessionReused()) stats.sessionsReused += 1;
  const protocol = String(socket.alpnProtocol || 'none');
  stats.negotiated[protocol] = (stats.negotiated[protocol] ?? 0) + 1;
});
if ('keepAliveTimeout' in server) server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') console.log(JSON.stringify({ url: `https://127.0.0.1:${address.port}` }));
});
process.once('SIGTERM', () => process.exit(0));
