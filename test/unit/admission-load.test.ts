// The load client used by the fault tests must tell a request that was never sent (no TLS
// connection yet) from one lost after it was sent; the fault tests allow only the former.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generateCertificates, type GeneratedCertificates } from '../../src/certs/generate.ts';
import { AdmissionClient, NOT_SENT, malformedCase } from '../support/admission-load.ts';

let certs: GeneratedCertificates;
let server: TcpServer | TlsServer | undefined;

beforeAll(async () => {
  certs = await generateCertificates({ dnsNames: ['localhost', '127.0.0.1'] });
});

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function listen(s: TcpServer | TlsServer): Promise<string> {
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function failureOf(url: string): Promise<string> {
  const client = new AdmissionClient(certs.caCert, 2_000);
  try {
    await client.send(url, malformedCase());
    return 'answered';
  } catch (err) {
    return (err as Error).message;
  } finally {
    client.close();
  }
}

describe('AdmissionClient failures', () => {
  it('marks a connection reset before the TLS handshake as not sent (what a closing listen backlog does)', async () => {
    const url = await listen(createTcpServer((socket) => socket.resetAndDestroy()));
    const message = await failureOf(url);
    expect(message.startsWith(NOT_SENT)).toBe(true);
    expect(message).toMatch(/ECONNRESET|socket disconnected/);
  });

  it('marks a refused connection as not sent', async () => {
    const url = await listen(createTcpServer());
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    expect(await failureOf(url)).toMatch(new RegExp(`^${NOT_SENT.replace(/[()]/g, '\\$&')}connect ECONNREFUSED`));
  });

  it('does not mark a connection reset after the request was sent', async () => {
    const received: number[] = [];
    const url = await listen(
      createTlsServer({ key: certs.key, cert: certs.cert }, (socket) => {
        socket.once('data', (chunk: Buffer) => {
          received.push(chunk.length);
          socket.destroy(); // the request arrived; the answer never leaves
        });
      }),
    );
    const message = await failureOf(url);
    expect(received.length).toBe(1);
    expect(message.startsWith(NOT_SENT)).toBe(false);
    expect(message).toMatch(/socket hang up|ECONNRESET/);
  });
});
