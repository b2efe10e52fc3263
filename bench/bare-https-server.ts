// The floor the HTTPS benchmark compares chaingate with: node:https on the same certificate,
// answering every POST with a fixed allowed AdmissionReview after reading (not checking) the
// body. Whatever latency this shows under a load is the platform's, not chaingate's.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const [certDir = 'certs'] = process.argv.slice(2);
const answer = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '00000000-0000-4000-8000-000000000000', allowed: true } });
const server = createServer({ key: readFileSync(join(certDir, 'tls.key')), cert: readFileSync(join(certDir, 'tls.crt')) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(answer);
  });
});
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') console.log(JSON.stringify({ url: `https://127.0.0.1:${address.port}` }));
});
process.once('SIGTERM', () => process.exit(0));
