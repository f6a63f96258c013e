/**
 * The HTTP side of the API, on `node:http` only: route, read the body (at most 64 KiB), parse it into a
 * VmmAction with the route's parser, execute it on the controller, and answer. Every failure goes through
 * `httpErrorOf` (errors.ts) and is answered as `{"fault_message": "..."}`; success is 204 with no body, or 200
 * with JSON (or the metrics text).
 *
 * The server holds no VM state of its own: all of it is in the ApiController.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VmmData } from './actions.js';
import type { ApiController } from './controller.js';
import { ApiError, badRequest, httpErrorOf } from './errors.js';
import { allowedMethods, matchRoute, type Method } from './routes.js';

/** Largest request body accepted; a larger one gets 413. */
export const MAX_BODY_BYTES = 64 * 1024;
/**
 * Beyond this much discarded body the connection is dropped instead of being read to its end: the 413 is sent
 * after the whole body was read, so that a client still writing it does not get a reset instead of the answer.
 */
const MAX_DISCARD_BYTES = 16 * 1024 * 1024;

/** What the server serves, and its body size limit. */
export interface ApiServerOptions {
  readonly controller: ApiController;
  /** Body size limit (default MAX_BODY_BYTES). */
  readonly maxBodyBytes?: number;
}

/** Creates the API server (not listening yet: see `listen`). */
export function createApiServer(opts: ApiServerOptions): Server {
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  return createServer((req, res) => {
    void handle(opts.controller, limit, req, res);
  });
}

/** Where to listen: a Unix socket path, or a TCP port on 127.0.0.1 (0: any free port). */
export type ListenAddress = { readonly socket: string } | { readonly port: number };

/** Starts listening; resolves with a printable address (`unix:/path` or `http://127.0.0.1:PORT`). */
export function listen(server: Server, where: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      if ('socket' in where) resolve(`unix:${where.socket}`);
      else resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    };
    if ('socket' in where) server.listen(where.socket, done);
    else server.listen(where.port, '127.0.0.1', done);
  });
}

/** Stops accepting connections and ends the open ones (kept-alive clients included). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function handle(controller: ApiController, limit: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    // The path is taken literally (no URL resolution: '//x/vm' is not '/vm'); the query string is form-decoded.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    const match = matchRoute(pathname);
    if (!match) throw new ApiError('not-found', `no such resource: ${pathname.length > 100 ? `${pathname.slice(0, 100)}...` : pathname}`);
    const method = req.method ?? '';
    const op = Object.hasOwn(match.route.methods, method) ? match.route.methods[method as Method] : undefined;
    if (!op) {
      res.setHeader('Allow', allowedMethods(match.route).join(', '));
      throw new ApiError('method-not-allowed', `${match.route.path} does not support ${method} (allowed: ${allowedMethods(match.route).join(', ')})`);
    }
    const body = parseJson(await readBody(req, limit, res));
    const action = op.parse({ method, route: match.route.path, params: match.params, query, body });
    send(res, await controller.execute(action));
  } catch (err) {
    const { status, message } = httpErrorOf(err);
    sendJson(res, status, { fault_message: message });
  }
}

/**
 * Reads the whole body. Past `limit` bytes it keeps reading (and discarding) to the end, then refuses with 413;
 * past MAX_DISCARD_BYTES it drops the connection.
 */
function readBody(req: IncomingMessage, limit: number, res: ServerResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > MAX_DISCARD_BYTES || declared > MAX_DISCARD_BYTES) req.destroy();
    });
    req.on('end', () => {
      ended = true;
      if (size > limit) {
        res.setHeader('Connection', 'close');
        reject(new ApiError('payload-too-large', `request body is ${size} bytes; the limit is ${limit}`));
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', reject);
    // A client that goes away mid-body: nobody is left to answer, but the handler must not wait forever.
    req.on('close', () => { if (!ended) reject(new ApiError('bad-request', 'the client closed the connection before the body ended')); });
  });
}

/** An empty body is "no body" (undefined); anything else must be JSON. @throws ApiError bad-request */
function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`malformed JSON body: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function send(res: ServerResponse, data: VmmData): void {
  switch (data.kind) {
    case 'empty':
      res.writeHead(204).end();
      return;
    case 'json':
      sendJson(res, 200, data.value);
      return;
    case 'text':
      res.writeHead(200, { 'Content-Type': data.contentType, 'Content-Length': Buffer.byteLength(data.text) }).end(data.text);
      return;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
