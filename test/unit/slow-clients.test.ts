// Slow and idle clients on the admission port, over real sockets against the real server: each
// is closed at its deadline (headers, whole request, keep-alive idle, TLS handshake) or refused
// past --max-connections, counted in chaingate_connections_closed_total, while a well-behaved
// AdmissionReview on another connection is answered meanwhile. Limits are shortened to 1 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { runServer, type RunningServer } from '../../src/webhook/run.ts';
import { loadChainFiles } from '../../src/sources/chain-files.ts';

const LIMIT_MS = 1_000;
const MAX_CONNECTIONS = 10;
/** Node checks header/request deadlines every LIMIT_MS / 4 here; the rest is scheduling slack. */
const MARGIN_MS = 1_000;
const CD = '/validate/clusterdeployments';
const review = readFileSync(new URL('../../examples/reviews/upgrade-allowed.json', import.meta.url), 'utf8');

let server: RunningServer;
let certDir: string;
let port: number;
const open = new Set<Socket>();

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'chaingate-slow-clients-'));
  server = await runServer({
    config: {
      ...DEFAULT_SERVE_CONFIG,
      host: '127.0.0.1',
      port: 0,
      healthPort: 0,
      certDir,
      requestTimeoutMs: LIMIT_MS,
      keepAliveTimeoutMs: LIMIT_MS,
      maxConnections: MAX_CONNECTIONS,
    },
    logger: pino({ level: 'silent' }),
    handler: { chains: loadChainFiles('examples/chains') },
    drainDeadlineMs: 1_000,
  });
  port = Number(new URL(server.admissionUrl).port);
});

afterAll(async () => {
  for (const socket of open) socket.destroy();
  await server?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

interface Ending { at: number; data: string }
const endings = new WeakMap<Socket, Promise<Ending>>();

/** Every socket records, from its creation, what the server sent and when it closed. */
function track<T extends Socket>(socket: T): T {
  open.add(socket);
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  endings.set(socket, new Promise((resolve) => socket.once('close', () => {
    open.delete(socket);
    resolve({ at: Date.now(), data });
  })));
  return socket;
}

function tls(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = track(tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket)));
    socket.once('error', reject);
  });
}

function raw(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = track(netConnect({ host: '127.0.0.1', port }, () => resolve(socket)));
    socket.once('error', reject);
  });
}

/** Resolves when the server closes the socket, with what it sent and how long after `since`. */
async function closed(socket: Socket, since = Date.now()): Promise<{ afterMs: number; data: string }> {
  let guard: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error(`socket still open after ${LIMIT_MS + 5_000} ms`)), LIMIT_MS + 5_000);
  });
  try {
    const ending = await Promise.race([endings.get(socket)!, timeout]);
    return { afterMs: ending.at - since, data: ending.data };
  } finally {
    clearTimeout(guard);
  }
}

/** A well-behaved AdmissionReview, on a connection of its own. */
function admit(): Promise<{ status: number; allowed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: CD, method: 'POST', agent: false, rejectUnauthorized: false, timeout: 5_000, headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allowed: JSON.parse(body).response?.allowed === true }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('well-behaved review timed out')));
    req.on('error', reject);
    req.end(review);
  });
}

/** Sends the review on an open TLS connection (keep-alive) and resolves with the answer's status line and its time. */
function reviewOn(socket: Socket): Promise<{ head: string; allowed: boolean; at: number }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(data)?.[1];
      if (end < 0 || length === undefined || data.length < end + 4 + Number(length)) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ head: data.slice(0, data.indexOf('\r\n')), allowed: data.slice(end + 4).includes('"allowed":true'), at: Date.now() });
    };
    const onClose = () => reject(new Error('connection closed before the answer'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`POST ${CD} HTTP/1.1\r\nHost: chaingate\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(review)}\r\n\r\n${review}`);
  });
}

async function closedCount(reason: string): Promise<number> {
  const text = await (await fetch(`${server.healthUrl}/metrics`)).text();
  const match = new RegExp(`^chaingate_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  if (!match) throw new Error(`no chaingate_connections_closed_total{reason="${reason}"} on /metrics`);
  return Number(match[1]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `text` one byte per `everyMs` until the socket closes. */
function dribble(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('slow and idle clients on the admission port', () => {
  it('closes headers sent one byte per 100 ms at the request deadline', async () => {
    const before = await closedCount('headers_timeout');
    const socket = await tls();
    const since = Date.now();
    const done = closed(socket, since);
    dribble(socket, `POST ${CD} HTTP/1.1\r\nHost: chaingate\r\nContent-Type: application/json\r\nX-Slow: ${'a'.repeat(500)}\r\n\r\n`, 100);
    const [result, good] = await Promise.all([done, sleep(300).then(() => admit())]);
    expect(good).toEqual({ status: 200, allowed: true });
    expect(result.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.afterMs).toBeGreaterThanOrEqual(LIMIT_MS - 50);
    expect(result.afterMs).toBeLessThan(LIMIT_MS + MARGIN_MS);
    expect(await closedCount('headers_timeout')).toBe(before + 1);
  });

  it('closes a request whose body stops after 6 of 1,000 bytes at the request deadline', async () => {
    const before = await closedCount('request_timeout');
    const socket = await tls();
    const since = Date.now();
    const done = closed(socket, since);
    socket.write(`POST ${CD} HTTP/1.1\r\nHost: chaingate\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"api`);
    const [result, good] = await Promise.all([done, sleep(300).then(() => admit())]);
    expect(good).toEqual({ status: 200, allowed: true });
    expect(result.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.afterMs).toBeGreaterThanOrEqual(LIMIT_MS - 50);
    expect(result.afterMs).toBeLessThan(LIMIT_MS + MARGIN_MS);
    expect(await closedCount('request_timeout')).toBe(before + 1);
  });

  it('closes a keep-alive connection idle past the keep-alive timeout', async () => {
    const before = await closedCount('idle');
    const socket = await tls();
    const answer = await reviewOn(socket);
    expect(answer).toMatchObject({ head: 'HTTP/1.1 200 OK', allowed: true });
    const since = answer.at;
    const done = closed(socket, since);
    const [result, good] = await Promise.all([done, sleep(300).then(() => admit())]);
    expect(good).toEqual({ status: 200, allowed: true });
    // Node adds its keepAliveTimeoutBuffer (1 s) to the socket timer.
    expect(result.afterMs).toBeGreaterThanOrEqual(LIMIT_MS - 50);
    expect(result.afterMs).toBeLessThan(LIMIT_MS + 1_000 + MARGIN_MS);
    expect(await closedCount('idle')).toBe(before + 1);
  });

  it('closes a raw TCP connection that never starts the TLS handshake', async () => {
    const before = await closedCount('handshake_timeout');
    const socket = await raw();
    const done = closed(socket);
    const [result, good] = await Promise.all([done, sleep(300).then(() => admit())]);
    expect(good).toEqual({ status: 200, allowed: true });
    expect(result.data).toBe('');
    expect(result.afterMs).toBeGreaterThanOrEqual(LIMIT_MS - 50);
    expect(result.afterMs).toBeLessThan(LIMIT_MS + MARGIN_MS);
    expect(await closedCount('handshake_timeout')).toBe(before + 1);
  });

  it('closes connections past --max-connections at once, and serves the open ones', async () => {
    const before = await closedCount('max_connections');
    // The well-behaved client's keep-alive connection is open before the flood.
    const client = await tls();
    expect(await reviewOn(client)).toMatchObject({ head: 'HTTP/1.1 200 OK', allowed: true });
    const extra = 5;
    const flood = await Promise.all(Array.from({ length: MAX_CONNECTIONS - 1 + extra }, () => raw()));
    const since = Date.now();
    const closes = flood.map((socket) => closed(socket, since));
    await sleep(100);
    expect(await reviewOn(client)).toMatchObject({ head: 'HTTP/1.1 200 OK', allowed: true });
    const results = await Promise.all(closes);
    // Dropped at accept: closed well before the handshake deadline closes the others.
    expect(results.filter((r) => r.afterMs < LIMIT_MS / 2).length).toBe(extra);
    expect(results.every((r) => r.afterMs < LIMIT_MS + MARGIN_MS)).toBe(true);
    expect(await closedCount('max_connections')).toBe(before + extra);
    client.destroy();
  });
});
