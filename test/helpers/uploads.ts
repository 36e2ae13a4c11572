// Driving blob uploads in tests: session start, chunk PATCHes, and raw node:http requests for what
// supertest cannot send (a chunked body without Content-Length, a body cut off mid-way).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type Koa from 'koa';
import type supertest from 'supertest';

type Agent = ReturnType<typeof supertest.agent>;

/** A repository name no other test uses, so tests sharing one registry stay independent. */
export function uniqueRepo(prefix = 'blobs'): string {
  return `${prefix}/r${randomBytes(4).toString('hex')}`;
}

/** Appends query parameters to a Location, keeping any query it already has. */
export function withQuery(location: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return `${location}${location.includes('?') ? '&' : '?'}${query}`;
}

/** end-4a: opens an upload session and returns its Location and id. */
export async function startUpload(request: Agent, repo: string, query = ''): Promise<{ location: string; uuid: string }> {
  const res = await request.post(`/v2/${repo}/blobs/uploads/${query}`).expect(202);
  const location = res.headers.location as string;
  assert.ok(location, 'POST answered without a Location');
  return { location, uuid: res.headers['docker-upload-uuid'] as string };
}

/** end-5: one chunk with the spec's `Content-Range: <start>-<end>` (inclusive, no unit). */
export function patchChunk(request: Agent, location: string, bytes: Buffer, start: number, range?: string) {
  return request
    .patch(location)
    .set('Content-Type', 'application/octet-stream')
    .set('Content-Range', range ?? `${start}-${start + bytes.length - 1}`)
    .send(bytes);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Serves `app` on an ephemeral loopback port for the duration of `fn`. `handled()` resolves once
 * every request the app received so far has been completely processed (Koa's callback returns the
 * handling promise), so a test can wait for the server's side of an aborted request.
 */
export async function withServer<T>(
  app: Koa,
  fn: (server: { port: number; handled(): Promise<void>; requests(): number }) => Promise<T>,
): Promise<T> {
  const callback = app.callback();
  const pending: Promise<unknown>[] = [];
  const server = http.createServer((req, res) => {
    pending.push(Promise.resolve(callback(req, res)).catch(() => {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await fn({ port, handled: async () => void (await Promise.all(pending)), requests: () => pending.length });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A request whose body the test writes piece by piece (`req.write`, `req.end`, `req.destroy`). */
export function openRequest(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string> },
): { req: http.ClientRequest; response: Promise<RawResponse> } {
  const req = http.request({ host: '127.0.0.1', port, method: options.method, path: options.path, headers: options.headers, agent: false });
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => body.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(body) }));
      res.on('error', reject);
    });
  });
  return { req, response };
}

/** One request with the body written as the given pieces; without Content-Length node sends it chunked. */
export function rawRequest(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string>; chunks?: Buffer[] },
): Promise<RawResponse> {
  const { req, response } = openRequest(port, options);
  for (const chunk of options.chunks ?? []) req.write(chunk);
  req.end();
  return response;
}

/**
 * Sends headers announcing `declaredLength` bytes, writes `sent`, waits until `isReceived()` holds
 * (the server got those bytes), then destroys the socket before the rest arrives.
 */
export async function sendTruncated(
  port: number,
  options: { method: string; path: string; headers: Record<string, string>; declaredLength: number; sent: Buffer },
  isReceived: () => Promise<boolean>,
): Promise<void> {
  const { req, response } = openRequest(port, {
    ...options,
    headers: { ...options.headers, 'Content-Length': String(options.declaredLength) },
  });
  const answered = response.then(
    (res) => Promise.reject(new Error(`server answered ${res.status} before the body was complete`)),
    () => new Promise<never>(() => {}),
  );
  answered.catch(() => {});
  req.write(options.sent);
  await Promise.race([waitFor(isReceived, 'the server to receive the partial body'), answered]);
  req.destroy();
}

/** Polls a condition (the state of files written by the server) until it holds or 10 s pass. */
export async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Size of a file, or -1 when it does not exist. */
export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return -1;
  }
}

/** Every regular file below `dir`, relative to it (an absent dir is empty). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The fs store's path of a committed blob: <root>/<algorithm>/<first two hex>/<hex>. */
export function blobFile(storeRoot: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return path.join(storeRoot, algorithm, hex.slice(0, 2), hex);
}

/** The fs store's staging file of an upload. */
export function stagedFile(storeRoot: string, uuid: string): string {
  return path.join(storeRoot, '_uploads', uuid);
}
