// Reads an admission request's JSON body as text, for fastify's content-type parser.
//
// Why not fastify's `parseAs: 'string'`: it keeps the socket's Buffers, copies them into one with
// Buffer.concat and decodes that once. For a 1 MiB review that is two fresh 1 MiB allocations
// (the Buffer outside V8's heap, then the string) and a copy each time. Decoding each chunk as it
// arrives gives small strings that V8 joins as a rope, flattened once by JSON.parse, which builds
// its own copy anyway (BENCHMARKS.md section 10 has the profile and the figures).
//
// The limits and errors are fastify's own (its error classes), so the answers stay the same:
// too large by content-length or by what arrived, a length that does not match content-length,
// a stream error (the client went away) as a 400.
import { StringDecoder } from 'node:string_decoder';
import type { IncomingMessage } from 'node:http';
import { errorCodes } from 'fastify';

export type BodyDone = (error: Error | null, text?: string) => void;

export function readTextBody(request: IncomingMessage, limit: number, done: BodyDone): void {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  const decoder = new StringDecoder('utf8');
  let received = 0;
  let text = '';
  const stop = () => {
    request.removeListener('data', onData);
    request.removeListener('end', onEnd);
    request.removeListener('error', onEnd);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) {
      stop();
      return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    }
    text += decoder.write(chunk);
  };
  const onEnd = (err?: Error & { statusCode?: number }) => {
    stop();
    if (err) {
      if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
      return done(err);
    }
    if (!Number.isNaN(declared) && received !== declared) return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    done(null, text + decoder.end());
  };
  request.on('data', onData);
  request.on('end', onEnd);
  request.on('error', onEnd);
  request.resume();
}
